//! Shows what a pod gave its container: `env-echo [--every SECS] PATH...`
//! prints the environment (`ENV NAME=value`, sorted), then each PATH's
//! content between `FILE PATH` and `END PATH` lines (`MISSING PATH: why`
//! if it cannot be read). With `--every SECS` it does so again every SECS
//! seconds, forever, so file updates show in the log of a running pod.

use std::io::Write;
use std::time::Duration;

fn report(paths: &[String]) {
    let mut out = std::io::stdout().lock();
    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    for (k, v) in vars {
        let _ = writeln!(out, "ENV {k}={v}");
    }
    for p in paths {
        match std::fs::read_to_string(p) {
            Ok(s) => {
                let _ = writeln!(out, "FILE {p}");
                let _ = write!(out, "{s}");
                if !s.ends_with('\n') {
                    let _ = writeln!(out);
                }
                let _ = writeln!(out, "END {p}");
            }
            Err(e) => {
                let _ = writeln!(out, "MISSING {p}: {e}");
            }
        }
    }
    let _ = out.flush();
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut every = None;
    if args.first().map(String::as_str) == Some("--every") {
        let secs = args.get(1).and_then(|s| s.parse::<f64>().ok());
        let Some(secs) = secs.filter(|s| *s > 0.0) else {
            eprintln!("usage: env-echo [--every SECS] PATH...");
            std::process::exit(2);
        };
        every = Some(Duration::from_secs_f64(secs));
        args.drain(..2);
    }
    loop {
        report(&args);
        match every {
            Some(d) => std::thread::sleep(d),
            None => return,
        }
    }
}
