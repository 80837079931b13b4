//! A job that writes to a volume: `volume-writer PATH CONTENT` writes CONTENT
//! to PATH (inside a mounted volume), reads it back, and exits 0; it exits 1
//! with the reason on stderr if the write fails (e.g. a read-only volume).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(content)) = (args.first(), args.get(1)) else {
        eprintln!("usage: volume-writer PATH CONTENT");
        std::process::exit(2);
    };
    if let Err(e) = std::fs::write(path, content) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(1);
    }
    match std::fs::read_to_string(path) {
        Ok(back) if &back == content => println!("wrote {} bytes to {path}", back.len()),
        Ok(back) => {
            eprintln!("read back {back:?}, wrote {content:?}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot read back {path}: {e}");
            std::process::exit(1);
        }
    }
}
