//! `make_env::clean` against a real child process: variables set in our
//! own environment (as a person's shell would leave them) do not reach
//! the child, unless the command sets them itself.
//!
//! A separate test binary, because it changes this process's environment.

use std::process::Command;

fn child_env(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run /usr/bin/env");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn inherited_build_variables_do_not_reach_make() {
    for (k, v) in [
        ("KCONFIG_ALLCONFIG", "/tmp/leaked.config"),
        ("LLVM", "1"),
        ("KBUILD_OUTPUT", "/tmp/elsewhere"),
        ("MAKEFLAGS", "-j99 --jobserver-auth=3,4"),
        ("CROSS_COMPILE", "aarch64-linux-gnu-"),
        ("KTAILOR_TEST_KEEP", "kept"),
    ] {
        // Edition 2021: set_var is safe; this binary has no other threads
        // reading the environment at this point.
        std::env::set_var(k, v);
    }

    // Without the helper, everything leaks (the premise of the test).
    let raw = child_env(&mut Command::new("/usr/bin/env"));
    assert!(raw.contains("LLVM=1\n"), "{raw}");

    let mut cmd = Command::new("/usr/bin/env");
    ksys::make_env::clean(&mut cmd);
    let env = child_env(&mut cmd);
    for gone in [
        "KCONFIG_ALLCONFIG=",
        "LLVM=",
        "KBUILD_OUTPUT=",
        "MAKEFLAGS=",
        "CROSS_COMPILE=",
    ] {
        assert!(
            !env.lines().any(|l| l.starts_with(gone)),
            "{gone} reached the child:\n{env}"
        );
    }
    assert!(env.lines().any(|l| l == "KTAILOR_TEST_KEEP=kept"), "{env}");
    assert!(env.lines().any(|l| l == "LC_ALL=C"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");

    // A value the caller sets on purpose goes through.
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", "echo ${LLVM-unset} ${KCONFIG_ALLCONFIG-unset}"]);
    ksys::make_env::clean(&mut sh);
    sh.env("KCONFIG_ALLCONFIG", "mine.config");
    let out = sh.output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "unset mine.config\n");
}
