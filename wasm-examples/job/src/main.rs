//! A batch job: the WASI command Skiff runs to completion, like a container
//! process. Built for wasm32-wasip2 it is a component (`wasi:cli/run`); built
//! for wasm32-wasip1 the same source is a core module with `_start`.
//!
//! Usage:
//!   job                 print a greeting with $GREETING and $POD_NAME, exit 0
//!   job echo WORDS...   print each word on its own line, then
//!                       SKIFF_CONFORMANCE=$SKIFF_CONFORMANCE, and one stderr line
//!   job exit N          exit with code N (a job failing on request)
//!   job sleep [SECS]    sleep (forever without SECS), ignoring stop requests
//!   job env             print the environment, sorted
//!   job pwd             print the working directory

use std::io::Write;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        None => {
            let greeting = std::env::var("GREETING").unwrap_or_else(|_| "Hello".into());
            let pod = std::env::var("POD_NAME").unwrap_or_else(|_| "an unnamed pod".into());
            println!("{greeting} from a Wasm job in {pod}");
            0
        }
        Some("echo") => {
            for w in &args[1..] {
                println!("{w}");
            }
            println!(
                "SKIFF_CONFORMANCE={}",
                std::env::var("SKIFF_CONFORMANCE").unwrap_or_default()
            );
            eprintln!("to stderr");
            0
        }
        Some("exit") => match args.get(1).and_then(|n| n.parse::<i32>().ok()) {
            Some(n) => {
                println!("exiting with {n} as asked");
                n
            }
            None => {
                eprintln!("usage: job exit N");
                2
            }
        },
        Some("sleep") => {
            let secs = args.get(1).and_then(|s| s.parse::<u64>().ok());
            println!("sleeping");
            let _ = std::io::stdout().flush();
            match secs {
                Some(s) => std::thread::sleep(Duration::from_secs(s)),
                None => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
            0
        }
        Some("env") => {
            let mut vars: Vec<(String, String)> = std::env::vars().collect();
            vars.sort();
            for (k, v) in vars {
                println!("{k}={v}");
            }
            0
        }
        Some("pwd") => {
            match std::env::current_dir() {
                Ok(d) => println!("{}", d.display()),
                Err(e) => println!("no working directory: {e}"),
            }
            0
        }
        Some(other) => {
            eprintln!("unknown mode {other:?}; try echo, exit, sleep, env, pwd");
            2
        }
    };
    let _ = std::io::stdout().flush();
    exit(code);
}

/// Exits with exactly `code`: on WASI 0.2 std's exit would turn every
/// failure into 1.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
fn exit(code: i32) -> ! {
    if code != 0 {
        wasip2::cli::exit::exit_with_code(u8::try_from(code).unwrap_or(u8::MAX));
    }
    std::process::exit(code);
}

/// Exits with exactly `code` (WASI 0.1's proc_exit carries it as is).
#[cfg(not(all(target_os = "wasi", target_env = "p2")))]
fn exit(code: i32) -> ! {
    std::process::exit(code);
}
