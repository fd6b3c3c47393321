//! The doctor's other inputs (probes, strace, questions, lspci), its
//! judgement with a --config, the solver's part, and the report format.

mod common;

use kdoctor::{InitKind, Inputs, Kind, Report, Symptoms};

fn run(k: &common::Kernel, inp: &Inputs) -> Report {
    kdoctor::diagnose_with(&k.index, &k.db, inp, &Symptoms::builtin())
}

fn options(r: &Report) -> Vec<&str> {
    r.suggestions.iter().map(|s| s.option.as_str()).collect()
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn probes_map_through_the_index() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.log = Some(
        "[    2.1] KTAILOR-PROBE {\"probe\":\"epoll\",\"status\":\"fail\",\"errno\":\"ENOSYS\"}\n\
         KTAILOR-PROBE {\"probe\":\"unix-socket\",\"ok\":false}\n\
         KTAILOR-PROBE {\"probe\":\"devpts\",\"status\":\"fail\",\"errno\":\"ENODEV\"}\n\
         KTAILOR-PROBE {\"probe\":\"console\",\"status\":\"ok\"}\n\
         KTAILOR-PROBE {\"probe\":\"no-such-probe\",\"status\":\"fail\"}\n"
            .into(),
    );
    let r = run(&k, &inp);
    let o = options(&r);
    for want in ["EPOLL", "UNIX", "UNIX98_PTYS"] {
        assert!(o.contains(&want), "{want} not in {o:?}");
    }
    assert!(r.suggestions.iter().all(|s| s.kind == Kind::Probe));
    assert!(r.notes.iter().any(|n| n.text.contains("no-such-probe")));
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn every_probe_mapping_resolves() {
    // data/symptoms.toml's probe table must point at things this kernel has.
    let k = common::kernel();
    let rules = Symptoms::builtin();
    let mut bad = Vec::new();
    for (probe, lookup) in &rules.probes {
        let mut inp = Inputs::new();
        inp.solve = false;
        inp.probes = Some(format!(
            "KTAILOR-PROBE {{\"probe\":\"{probe}\",\"status\":\"fail\"}}"
        ));
        let r = run(&k, &inp);
        if r.suggestions.is_empty() {
            bad.push(format!("{probe} -> {lookup}: {:?}", r.notes));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn strace_mount_and_families() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.strace = Some(
        "mount(\"devpts\", \"/dev/pts\", \"devpts\", MS_NOSUID, NULL) = -1 ENODEV (No such device)\n\
         socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = -1 EAFNOSUPPORT (Address family not supported by protocol)\n\
         socket(PF_PACKET, SOCK_RAW, 768) = -1 EAFNOSUPPORT (Address family not supported by protocol)\n\
         read(0, 0x7ffd, 10) = -1 ENOSYS (Function not implemented)\n"
            .into(),
    );
    let r = run(&k, &inp);
    let o = options(&r);
    for want in ["UNIX98_PTYS", "IPV6", "PACKET"] {
        assert!(o.contains(&want), "{want} not in {o:?}");
    }
    // read is never configured out: say so instead of guessing.
    assert!(
        r.notes
            .iter()
            .any(|n| n.text.contains("always compiled in")),
        "{:?}",
        r.notes
    );
    let pts = r
        .suggestions
        .iter()
        .find(|s| s.option == "UNIX98_PTYS")
        .unwrap();
    assert!(pts
        .source
        .as_deref()
        .unwrap()
        .starts_with("fs/devpts/inode.c:"));
    assert_eq!(pts.evidence[0].input, "strace");
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn questions() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.questions = vec![
        "syscall epoll_create1".into(),
        "fs ext4".into(),
        "af AF_PACKET".into(),
        "pci 8086:100e".into(),
        "what is love".into(),
    ];
    let r = run(&k, &inp);
    let o = options(&r);
    for want in ["EPOLL", "EXT4_FS", "PACKET", "E1000"] {
        assert!(o.contains(&want), "{want} not in {o:?}");
    }
    assert!(r.notes.iter().any(|n| n.text.contains("not a question")));
    // E1000 needs its vendor menu and PCI: the solver says so.
    let e = r.suggestions.iter().find(|s| s.option == "E1000").unwrap();
    for need in [
        "CONFIG_PCI=y",
        "CONFIG_NET_VENDOR_INTEL=y",
        "CONFIG_E1000=y",
    ] {
        assert!(e.set.iter().any(|l| l == need), "{need} not in {:?}", e.set);
    }
    assert!(e.additions.iter().all(|a| !a.reason.is_empty()));
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn config_marks_what_is_already_there() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.config = Some("CONFIG_EPOLL=y\nCONFIG_EXPERT=y\n# CONFIG_SIGNALFD is not set\n".into());
    inp.strace = Some(
        "epoll_create1(0) = -1 ENOSYS (Function not implemented)\n\
         signalfd4(-1, [HUP], 8, 0) = -1 ENOSYS (Function not implemented)\n"
            .into(),
    );
    let r = run(&k, &inp);
    let ep = r.suggestions.iter().find(|s| s.option == "EPOLL").unwrap();
    let sf = r
        .suggestions
        .iter()
        .find(|s| s.option == "SIGNALFD")
        .unwrap();
    assert_eq!(ep.already_satisfied, Some(true));
    assert_eq!(sf.already_satisfied, Some(false));
    assert!(sf.score > ep.score, "the open problem ranks first");
    assert_eq!(r.suggestions[0].option, "SIGNALFD");
    assert!(
        sf.set.contains(&"CONFIG_SIGNALFD=y".to_string()),
        "{:?}",
        sf.set
    );
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn thirty_two_bit_init_on_64_bit_kernel() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.init = Some(InitKind::Elf32);
    inp.config = Some("CONFIG_64BIT=y\nCONFIG_X86_64=y\nCONFIG_BINFMT_ELF=y\n".into());
    inp.log = Some("Failed to execute /init (error -8)\n".into());
    let r = run(&k, &inp);
    assert_eq!(
        r.suggestions[0].option,
        "IA32_EMULATION",
        "{:?}",
        options(&r)
    );
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn root_device_without_lspci_names_the_usual_controllers() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.log =
        Some("VFS: Cannot open root device \"vda1\" or unknown-block(0,0): error -6\n".into());
    let r = run(&k, &inp);
    let o = options(&r);
    for want in ["EXT4_FS", "VIRTIO_BLK", "SATA_AHCI", "BLK_DEV_NVME"] {
        assert!(o.contains(&want), "{want} not in {o:?}");
    }
}

/// Found booting Debian on the ec2-nitro kernel: a Debian root without an
/// initramfs stops in a maintenance shell when fsck cannot open the
/// mounted root, and the console says nothing about the kernel.
#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn debian_fsck_of_the_mounted_root_and_efivarfs() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.log = Some(
        "mount: /sys/firmware/efi/efivars: unknown filesystem type 'efivarfs'.\n\
         Checking root file system...fsck.ext4: Device or resource busy while trying to open /dev/nvme0n1p1\n\
         fsck exited with status code 8\n"
            .into(),
    );
    let r = run(&k, &inp);
    let o = options(&r);
    for want in ["BLK_DEV_WRITE_MOUNTED", "EFIVAR_FS"] {
        assert!(o.contains(&want), "{want} not in {o:?}");
    }
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn lspci_nn_and_companions() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.lspci = Some(
        "00:1f.2 SATA controller [0106]: Intel Corporation 82801IR/IO/IH (ICH9R/DO/DH) 6 port SATA Controller [AHCI mode] [8086:2922] (rev 02) (prog-if 01 [AHCI 1.0])\n\
         00:1f.0 ISA bridge [0601]: Intel Corporation 82801IB (ICH9) LPC Interface Controller [8086:2918] (rev 02)\n"
            .into(),
    );
    let r = run(&k, &inp);
    let o = options(&r);
    assert!(
        o.contains(&"SATA_AHCI") && o.contains(&"BLK_DEV_SD"),
        "{o:?}"
    );
    let sd = r
        .suggestions
        .iter()
        .find(|s| s.option == "BLK_DEV_SD")
        .unwrap();
    assert_eq!(sd.kind, Kind::Companion);
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn custom_rules_are_data() {
    let k = common::kernel();
    let rules = Symptoms::parse(
        "[[rule]]\nid = \"mine\"\npatterns = [\"widget {name} exploded\"]\nlookups = [\"fs:{name}\"]\nscore = 77\nwhy = \"test\"\n",
        "mine.toml",
    )
    .unwrap();
    let mut inp = Inputs::new();
    inp.solve = false;
    inp.log = Some("oh no: widget squashfs exploded\n".into());
    let r = kdoctor::diagnose_with(&k.index, &k.db, &inp, &rules);
    assert_eq!(r.suggestions[0].option, "SQUASHFS");
    assert_eq!(r.suggestions[0].rule, "rule:mine");
    assert!(Symptoms::parse(
        "[[rule]]\nid = \"x\"\npatterns = [\"{a}{b}\"]\nwhy = \"\"\n",
        "bad.toml"
    )
    .is_err());
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn report_round_trips_through_json() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.log = Some("ip: socket: Function not implemented\n".into());
    let r = run(&k, &inp);
    let json = serde_json::to_string_pretty(&r).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.suggestions.len(), r.suggestions.len());
    assert_eq!(back.suggestions[0].option, "NET");
    assert!(json.contains("\"already_satisfied\""));
    let inputs_json = serde_json::to_string(&inp).unwrap();
    let _: Inputs = serde_json::from_str(&inputs_json).unwrap();
}

#[test]
#[ignore = "real tier: needs a kernel tree (scripts/test runs it)"]
fn garbage_in_nothing_out() {
    let k = common::kernel();
    let mut inp = Inputs::new();
    inp.log = Some("\u{0}\u{ff}é CONFIG_ (error -\n= -1 \nKTAILOR-PROBE {\"probe\":1}\n".into());
    inp.strace = Some("((((( = -1 EWHAT\n".into());
    inp.lspci = Some("zz:zz.z zzzz: zzzz:zzzz\n[".into());
    inp.config = Some("CONFIG_=\n=y\n".into());
    let r = run(&k, &inp);
    assert!(r.suggestions.is_empty(), "{:?}", options(&r));
}
