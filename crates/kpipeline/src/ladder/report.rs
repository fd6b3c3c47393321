//! Rendering a ladder run: a Markdown table (the seed's "it's grown about
//! 8x", step by step) and an SVG bar chart of the image sizes. Pure
//! functions of the report, so the files are reproducible from ladder.json.
//! The report's types live here too, next to what renders them.

use std::fmt::Write;

use std::path::PathBuf;

use serde::Serialize;

use crate::boot::BootReport;
use crate::fmt::{mib, secs};

/// One rung's measurements.
#[derive(Serialize)]
pub struct StepRow {
    pub name: String,
    pub seed: String,
    pub features: Vec<String>,
    /// CONFIG values this step turned on (or changed) relative to the last.
    pub options_added: Vec<String>,
    pub config_lines: usize,
    pub builtin: usize,
    pub vmlinux_bytes: u64,
    pub image_bytes: u64,
    pub build_s: f64,
    pub compiled: usize,
    pub incremental: bool,
    /// Probes this step newly proves, and the ones carried from earlier steps.
    pub new_probes: Vec<String>,
    pub required_probes: Vec<String>,
    pub probes_passed: usize,
    pub boot: Option<BootReport>,
    /// Disk steps: the checks this step newly requires, every check it
    /// requires (its own and the earlier disk steps', named for its init),
    /// and how many of those passed.
    pub new_checks: Vec<String>,
    pub required_checks: Vec<String>,
    pub checks_passed: usize,
    /// Disk steps: the image and its run.
    pub disk: Option<DiskRun>,
    pub ok: bool,
    /// Why the step failed (build or boot), empty when it passed.
    pub failures: Vec<String>,
}

/// A disk step's image and its SSH-checked run.
#[derive(Serialize)]
pub struct DiskRun {
    /// krun's machine: qemu or ec2-sim.
    pub machine: String,
    pub init: String,
    pub image: PathBuf,
    /// The command line built into the kernel (qemu also passes it).
    pub cmdline: String,
    pub kernel_release: String,
    /// What kimage made (sizes, ids, host keys) and how long it took.
    pub made: kimage::ImageReport,
    /// The root file system tar (cached) and whether it was a cache hit.
    pub rootfs: PathBuf,
    pub rootfs_cache_hit: bool,
    /// The run, with every check krun made and the console's tail.
    pub run: Option<krun::RunReport>,
}

impl DiskRun {
    pub fn boot_to_login_s(&self) -> Option<f64> {
        self.run.as_ref().and_then(|r| r.boot_to_login_seconds)
    }
}

#[derive(Serialize)]
pub struct LadderReport {
    pub kernelversion: String,
    pub arch: String,
    pub base: String,
    pub out_dir: String,
    pub command: String,
    pub total_s: f64,
    pub steps: Vec<StepRow>,
    pub ok: bool,
}

/// What proved a step: probes passed, the console text it showed, or (a
/// disk step) the SSH checks that passed of those it requires.
pub fn probes_cell(r: &StepRow, boot: Option<&BootReport>) -> String {
    if let Some(d) = &r.disk {
        return match &d.run {
            Some(_) => format!(
                "{}/{} checks ({})",
                r.checks_passed,
                r.required_checks.len(),
                d.machine
            ),
            None => format!("image not booted ({})", d.machine),
        };
    }
    match boot.or(r.boot.as_ref()) {
        None => "not booted".into(),
        Some(b) if b.expected.is_empty() => match (&b.expect, b.expect_seen) {
            (Some(e), true) => format!("console: {e:?}"),
            (Some(e), false) => format!("no {e:?} on the console"),
            (None, _) => b.verdict.clone(),
        },
        Some(b) => format!("{}/{} probes", r.probes_passed, b.expected.len()),
    }
}

/// The summary table alone.
pub fn table(rep: &LadderReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| # | step | options added | CONFIG lines | =y | vmlinux | bzImage | build | boot to init / login | probes / checks | result |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, r) in rep.steps.iter().enumerate() {
        let init = match &r.disk {
            Some(d) => d
                .boot_to_login_s()
                .map(|t| format!("login {t:.1}s"))
                .unwrap_or_else(|| "no login".into()),
            None => r
                .boot
                .as_ref()
                .and_then(|b| b.boot_to_init_s)
                .map(|t| format!("{t:.2}s"))
                .unwrap_or_else(|| "-".into()),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {}{} | {} | {} | {} |",
            i + 1,
            r.name,
            r.options_added.len(),
            r.config_lines,
            r.builtin,
            mib(r.vmlinux_bytes),
            mib(r.image_bytes),
            secs(r.build_s),
            if r.incremental {
                format!(" ({} objs)", r.compiled)
            } else {
                " (clean)".into()
            },
            init,
            probes_cell(r, None),
            if r.ok { "pass" } else { "FAIL" }
        );
    }
    s
}

/// The whole Markdown report: the table, growth, and per step what it
/// added and what proved it.
pub fn markdown(rep: &LadderReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Ladder: Linux {} {} from {}\n",
        rep.kernelversion, rep.arch, rep.base
    );
    let _ = writeln!(s, "Command: `{}`\n", rep.command);
    let _ = writeln!(
        s,
        "Total: {} ({}).\n",
        secs(rep.total_s),
        if rep.ok {
            "every step passed"
        } else {
            "some steps FAILED"
        }
    );
    s.push_str(&table(rep));
    let built: Vec<_> = rep.steps.iter().filter(|r| r.vmlinux_bytes > 0).collect();
    if let (Some(f), Some(l)) = (built.first(), built.last()) {
        let _ = writeln!(
            s,
            "\nGrowth from `{}` to `{}`: CONFIG lines {:.1}x, vmlinux {:.1}x, bzImage {:.1}x.",
            f.name,
            l.name,
            l.config_lines as f64 / f.config_lines.max(1) as f64,
            l.vmlinux_bytes as f64 / f.vmlinux_bytes.max(1) as f64,
            l.image_bytes as f64 / f.image_bytes.max(1) as f64
        );
    }
    let _ = writeln!(s, "\n![size per step](ladder-size.svg)\n");
    for (i, r) in rep.steps.iter().enumerate() {
        let _ = writeln!(s, "## {}. {}\n\n{}\n", i + 1, r.name, r.seed);
        let _ = writeln!(s, "- features: {}", r.features.join(", "));
        let _ = writeln!(
            s,
            "- options added ({}): {}",
            r.options_added.len(),
            r.options_added
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if !r.new_probes.is_empty() {
            let _ = writeln!(s, "- new probes: {}", r.new_probes.join(", "));
        }
        if let Some(b) = &r.boot {
            let _ = writeln!(
                s,
                "- boot: {} ({}, {:.1}s), `{}`",
                b.verdict, b.accel, b.seconds, b.append
            );
            for p in &b.probes {
                let _ = writeln!(s, "  - `{}` {}: {}", p.probe, p.status, p.detail);
            }
        }
        if !r.new_checks.is_empty() {
            let _ = writeln!(s, "- new checks: {}", r.new_checks.join(", "));
        }
        if let Some(d) = &r.disk {
            let m = &d.made;
            let _ = writeln!(
                s,
                "- image: Debian {} root{}, {} disk, {} allocated ({} of files, kernel {}), made in {:.1}s; built-in command line `{}`",
                d.init,
                if d.rootfs_cache_hit { " (cached)" } else { "" },
                kimage::human(m.disk_bytes),
                kimage::human(m.allocated_bytes),
                kimage::human(m.tree_bytes),
                kimage::human(m.kernel_bytes),
                m.seconds,
                d.cmdline
            );
            if let Some(run) = &d.run {
                let _ = writeln!(
                    s,
                    "- run on {} ({}): {}, boot to login {}, {:.1}s in all; checks ({} required):",
                    d.machine,
                    run.accel,
                    run.verdict,
                    run.boot_to_login_seconds
                        .map(|t| format!("{t:.1}s"))
                        .unwrap_or_else(|| "never".into()),
                    run.seconds,
                    r.required_checks.len()
                );
                for c in &run.checks {
                    let _ = writeln!(
                        s,
                        "  - `{}` {}{}: {}",
                        c.name,
                        if c.pass { "pass" } else { "FAIL" },
                        if r.required_checks.contains(&c.name) {
                            ""
                        } else {
                            " (not required yet)"
                        },
                        c.evidence
                    );
                }
                for b in &run.build_checks {
                    let _ = writeln!(s, "  - note: {b}");
                }
            }
        }
        for f in &r.failures {
            let _ = writeln!(s, "- FAILED: {f}");
        }
        s.push('\n');
    }
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A grouped bar chart: vmlinux and bzImage size per step, in MiB.
pub fn svg(rep: &LadderReport) -> String {
    let n = rep.steps.len().max(1);
    let (left, top, bottom, bar_w, gap) = (60.0, 40.0, 110.0, 18.0, 22.0);
    let group = bar_w * 2.0 + gap;
    let width = left + group * n as f64 + 20.0;
    let plot_h = 260.0;
    let height = top + plot_h + bottom;
    let max = rep
        .steps
        .iter()
        .map(|r| r.vmlinux_bytes.max(r.image_bytes))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        / (1024.0 * 1024.0);
    let step = nice_step(max / 5.0);
    let top_val = (max / step).ceil() * step;
    let y = |v: f64| top + plot_h - v / top_val * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="13">Linux {} {}: size per ladder step (MiB)</text>"#,
        esc(&rep.kernelversion),
        esc(&rep.arch)
    );
    let mut v = 0.0;
    while v <= top_val + 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            width - 10.0,
            left - 6.0,
            yy + 4.0
        );
        v += step;
    }
    for (i, r) in rep.steps.iter().enumerate() {
        let x = left + gap / 2.0 + group * i as f64;
        for (j, (bytes, color)) in [(r.vmlinux_bytes, "#4e79a7"), (r.image_bytes, "#f28e2b")]
            .iter()
            .enumerate()
        {
            let mb = *bytes as f64 / (1024.0 * 1024.0);
            let bx = x + bar_w * j as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{bar_w}" height="{:.1}" fill="{color}"><title>{} {}: {mb:.2} MiB</title></rect>"#,
                y(mb),
                y(0.0) - y(mb),
                esc(&r.name),
                if j == 0 { "vmlinux" } else { "bzImage" }
            );
        }
        let lx = x + bar_w;
        let ly = top + plot_h + 12.0;
        let _ = writeln!(
            s,
            r#"<text x="{lx:.1}" y="{ly:.1}" transform="rotate(40 {lx:.1} {ly:.1})">{}{}</text>"#,
            esc(&r.name),
            if r.ok { "" } else { " (FAIL)" }
        );
    }
    let ly = height - 12.0;
    let _ = writeln!(
        s,
        r##"<rect x="{left}" y="{:.1}" width="10" height="10" fill="#4e79a7"/><text x="{:.1}" y="{ly:.1}">vmlinux</text><rect x="{:.1}" y="{:.1}" width="10" height="10" fill="#f28e2b"/><text x="{:.1}" y="{ly:.1}">bzImage</text>"##,
        ly - 9.0,
        left + 14.0,
        left + 80.0,
        ly - 9.0,
        left + 94.0
    );
    s.push_str("</svg>\n");
    s
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, vm: u64, img: u64, ok: bool) -> StepRow {
        StepRow {
            name: name.into(),
            seed: "s".into(),
            features: vec!["f".into()],
            options_added: vec!["A=y".into()],
            config_lines: 400,
            builtin: 300,
            vmlinux_bytes: vm,
            image_bytes: img,
            build_s: 61.0,
            compiled: 10,
            incremental: true,
            new_probes: vec![],
            required_probes: vec![],
            probes_passed: 0,
            boot: None,
            new_checks: vec![],
            required_checks: vec![],
            checks_passed: 0,
            disk: None,
            ok,
            failures: if ok { vec![] } else { vec!["x".into()] },
        }
    }

    fn rep() -> LadderReport {
        LadderReport {
            kernelversion: "6.12.117".into(),
            arch: "x86_64".into(),
            base: "tinyconfig".into(),
            out_dir: "/o".into(),
            command: "ktailor ladder".into(),
            total_s: 125.0,
            steps: vec![
                row("console", 1 << 20, 1 << 19, true),
                row("a<b", 8 << 20, 4 << 20, false),
            ],
            ok: false,
        }
    }

    #[test]
    fn markdown_has_table_and_growth() {
        let m = markdown(&rep());
        assert!(m.contains("| 1 | console | 1 | 400 | 300 | 1.00 MiB | 0.50 MiB | 1m01s (10 objs) | - | not booted | pass |"), "{m}");
        assert!(m.contains("vmlinux 8.0x, bzImage 8.0x"), "{m}");
        assert!(m.contains("- FAILED: x"));
    }

    #[test]
    fn svg_is_escaped_and_scaled() {
        let s = svg(&rep());
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("a&lt;b (FAIL)"));
        assert_eq!(s.matches("<rect").count(), 4 + 2);
        assert_eq!(nice_step(1.7), 2.0);
        assert_eq!(nice_step(0.3), 0.5);
    }

    #[test]
    fn disk_rows_show_checks_and_login() {
        let made: kimage::ImageReport = serde_json::from_value(serde_json::json!({
            "output": "disk.raw", "disk_bytes": 2u64 << 30, "root_offset": 1u64 << 20,
            "allocated_bytes": 300u64 << 20, "root_bytes": 1u64 << 30, "esp_bytes": 64u64 << 20,
            "tree_bytes": 258u64 << 20, "kernel_bytes": 2u64 << 20,
            "ids": kimage::new_ids("ccad49d8-6227-4d80-ac1f-a718b7edf8a4").unwrap(),
            "host_keys": [], "seconds": 6.0
        }))
        .unwrap();
        let mut r = row("debian-virtio", 12 << 20, 2 << 20, false);
        r.new_checks = vec!["login".into(), "pty".into()];
        r.required_checks = r.new_checks.clone();
        r.checks_passed = 1;
        r.disk = Some(DiskRun {
            machine: "qemu".into(),
            init: "sysvinit".into(),
            image: "disk.raw".into(),
            cmdline: "root=PARTUUID=x rootwait".into(),
            kernel_release: "6.12.118".into(),
            made,
            rootfs: "r.tar".into(),
            rootfs_cache_hit: true,
            run: Some(crate::ladder::tests::report(&[
                ("login", true),
                ("pty", false),
                ("clean-logs", true),
            ])),
        });
        let mut rp = rep();
        rp.steps.push(r);
        let m = markdown(&rp);
        assert!(
            m.contains("| 3 | debian-virtio | 1 | 400 | 300 | 12.00 MiB | 2.00 MiB | 1m01s (10 objs) | login 30.0s | 1/2 checks (qemu) | FAIL |"),
            "{m}"
        );
        assert!(m.contains("- new checks: login, pty"), "{m}");
        assert!(m.contains("2.00 GiB disk, 300.0 MiB allocated"), "{m}");
        assert!(m.contains("  - `pty` FAIL: saw pty"), "{m}");
        assert!(
            m.contains("  - `clean-logs` pass (not required yet): saw clean-logs"),
            "{m}"
        );
        assert!(m.contains("boot to login 30.0s"), "{m}");
    }
}
