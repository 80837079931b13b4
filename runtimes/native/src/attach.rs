//! The shim's side of `kubectl attach`: a Unix socket in the container's
//! directory ([`SOCKET`]) through which clients get the main process's
//! output from the moment they connect and, when the container was created
//! with `stdin`, write to its stdin or resize its terminal. It speaks
//! [`skiff_runtime::attach::Frame`]s.
//!
//! The shim is single-threaded (after `unshare(CLONE_NEWPID)` it cannot
//! start threads), so the [`Hub`] does no I/O on its own: the shim's poll
//! loop asks it for the descriptors to watch ([`Hub::poll_fds`]), hands it
//! what became ready ([`Hub::ready`]), and passes every chunk of output on
//! ([`Hub::broadcast`]). Client sockets write with a timeout so a stuck
//! client is dropped instead of stalling the container's output and logs.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::PollFlags;
use skiff_runtime::attach::{CLOSE, Frame, RESIZE, STDIN};

/// The socket's file name in the container directory.
pub const SOCKET: &str = "attach.sock";

/// How long a write to one client may block before the client is dropped.
const CLIENT_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Input not yet taken by the process is bounded; beyond it, input is
/// dropped (a process that never reads its stdin must not grow the shim).
const MAX_PENDING_INPUT: usize = 1 << 20;

/// The end of the character a terminal reads as end of file (`^D`).
const VEOF: u8 = 4;

/// Where input for the main process goes.
enum Input {
    /// The container has no stdin (it reads `/dev/null`).
    None,
    /// The stdin pipe's or terminal's writing side, and input it has not
    /// taken yet.
    Open { fd: OwnedFd, pending: Vec<u8> },
    /// `stdinOnce` closed it.
    Closed,
}

/// One attached client.
struct Client {
    stream: UnixStream,
    /// Bytes received and not yet a whole frame.
    buf: Vec<u8>,
    /// It announced (or sent) input: its departure closes stdin under
    /// `stdinOnce`.
    writes_stdin: bool,
}

/// The attach socket and its clients.
pub struct Hub {
    path: PathBuf,
    listener: UnixListener,
    clients: Vec<Client>,
    input: Input,
    /// The terminal's controlling side, when the container has a tty.
    terminal: Option<OwnedFd>,
    stdin_once: bool,
    /// `stdinOnce` closed a pipe: it closes once the input already sent
    /// has gone in.
    closing: bool,
}

/// What the poll loop should watch for the hub, in [`Hub::poll_fds`] order.
pub type Watch<'a> = (BorrowedFd<'a>, PollFlags);

impl Hub {
    /// Listens at `dir/attach.sock`. `input` is the writing side of the
    /// process's stdin (a pipe, or the terminal), `terminal` the terminal
    /// for resizes.
    pub fn bind(
        dir: &Path,
        input: Option<OwnedFd>,
        terminal: Option<OwnedFd>,
        stdin_once: bool,
    ) -> Result<Self, String> {
        let path = dir.join(SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let input = match input {
            Some(fd) => {
                set_nonblocking(&fd)?;
                Input::Open {
                    fd,
                    pending: Vec::new(),
                }
            }
            None => Input::None,
        };
        Ok(Hub {
            path,
            listener,
            clients: Vec::new(),
            input,
            terminal,
            stdin_once,
            closing: false,
        })
    }

    /// The descriptors to poll: the listener, every client, and the
    /// input while it has bytes waiting.
    pub fn poll_fds(&self) -> Vec<Watch<'_>> {
        let mut fds = vec![(self.listener.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            self.clients
                .iter()
                .map(|c| (c.stream.as_fd(), PollFlags::POLLIN)),
        );
        if let Input::Open { fd, pending } = &self.input
            && !pending.is_empty()
        {
            fds.push((fd.as_fd(), PollFlags::POLLOUT));
        }
        fds
    }

    /// Acts on what poll reported, one flag per [`Hub::poll_fds`] entry.
    pub fn ready(&mut self, ready: &[bool]) {
        let mut flags = ready.iter().copied();
        let listener_ready = flags.next().unwrap_or(false);
        // The flags are for the clients polled; clients accepted below were
        // not, so they must not take the next entries (a blocking read of a
        // client with nothing to read would stall the container's output).
        let client_ready: Vec<bool> = (0..self.clients.len())
            .map(|_| flags.next().unwrap_or(false))
            .collect();
        if listener_ready {
            self.accept();
        }
        let mut gone = Vec::new();
        for (i, is_ready) in client_ready.into_iter().enumerate() {
            if is_ready && !self.read_client(i) {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            let c = self.clients.remove(i);
            if c.writes_stdin && self.stdin_once {
                self.close_input();
            }
        }
        self.flush_input();
    }

    /// Sends output to every client; a client that cannot take it is dropped.
    pub fn broadcast(&mut self, channel: u8, data: &[u8]) {
        if self.clients.is_empty() {
            return;
        }
        let wire = Frame::new(channel, data.to_vec()).encode();
        let mut gone = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            if c.stream.write_all(&wire).is_err() {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            let c = self.clients.remove(i);
            if c.writes_stdin && self.stdin_once {
                self.close_input();
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    // Blocking with a timeout: see the module doc.
                    if stream.set_nonblocking(false).is_err()
                        || stream
                            .set_write_timeout(Some(CLIENT_WRITE_TIMEOUT))
                            .is_err()
                    {
                        continue;
                    }
                    self.clients.push(Client {
                        stream,
                        buf: Vec::new(),
                        writes_stdin: false,
                    });
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    /// Reads what client `i` sent; false once it has gone.
    fn read_client(&mut self, i: usize) -> bool {
        let mut chunk = [0u8; 8192];
        let Some(c) = self.clients.get_mut(i) else {
            return false;
        };
        let n = match c.stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => return true,
            Err(_) => return false,
        };
        c.buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut frames = Vec::new();
        loop {
            match Frame::decode(&c.buf) {
                Ok(Some((f, used))) => {
                    c.buf.drain(..used);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(_) => return false,
            }
        }
        let mut alive = true;
        for f in frames {
            match f.channel {
                STDIN => {
                    if let Some(c) = self.clients.get_mut(i) {
                        c.writes_stdin = true;
                    }
                    self.queue_input(&f.data);
                }
                RESIZE => self.resize(&f),
                CLOSE if f.data.first() == Some(&STDIN) => {
                    if self.stdin_once {
                        self.close_input();
                    }
                }
                CLOSE => {}
                _ => alive = false,
            }
        }
        alive
    }

    fn queue_input(&mut self, data: &[u8]) {
        if let Input::Open { pending, .. } = &mut self.input
            && !self.closing
            && pending.len() + data.len() <= MAX_PENDING_INPUT
        {
            pending.extend_from_slice(data);
        }
    }

    /// Writes waiting input as far as the process takes it.
    fn flush_input(&mut self) {
        let Input::Open { fd, pending } = &mut self.input else {
            return;
        };
        while !pending.is_empty() {
            match nix::unistd::write(&*fd, pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(nix::Error::EINTR) => continue,
                Err(nix::Error::EAGAIN) => return,
                Err(_) => {
                    // The process closed its stdin: nobody will read more.
                    self.input = Input::Closed;
                    return;
                }
            }
        }
        if self.closing {
            self.input = Input::Closed;
        }
    }

    /// `stdinOnce`: a pipe closes (the process reads end of file); a
    /// terminal gets the end-of-file character and takes no more input.
    fn close_input(&mut self) {
        if self.terminal.is_none() {
            // Input sent just before the close (often in the same read)
            // must not be lost.
            self.closing = true;
            self.flush_input();
            return;
        }
        if let Input::Open { fd, pending } = &mut self.input
            && self.terminal.is_some()
        {
            pending.push(VEOF);
            let _ = set_blocking(fd);
            let _ = nix::unistd::write(&*fd, pending);
        }
        self.input = Input::Closed;
    }

    fn resize(&self, f: &Frame) {
        if let (Some(t), Some((width, height))) = (&self.terminal, f.size()) {
            set_window_size(t, width, height);
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<(), String> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("fcntl: {e}"))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| format!("fcntl: {e}"))?;
    Ok(())
}

fn set_blocking(fd: &OwnedFd) -> Result<(), String> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| format!("fcntl: {e}"))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK),
    )
    .map_err(|e| format!("fcntl: {e}"))?;
    Ok(())
}

nix::ioctl_write_ptr_bad!(tiocswinsz, nix::libc::TIOCSWINSZ, nix::libc::winsize);
nix::ioctl_write_int_bad!(tiocsctty, nix::libc::TIOCSCTTY);

/// Sets a terminal's size (the process gets `SIGWINCH`); failures are
/// ignored, the terminal keeps its old size.
pub fn set_window_size(terminal: &OwnedFd, width: u16, height: u16) {
    let ws = nix::libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    #[allow(unsafe_code, reason = "TIOCSWINSZ has no safe wrapper in nix")]
    // SAFETY: the descriptor is open for the call's duration and `ws` is a
    // valid winsize that outlives it.
    let _ = unsafe { tiocswinsz(terminal.as_raw_fd(), &ws) };
}

/// Makes `terminal` the controlling terminal of the calling process, which
/// must lead a new session (`setsid`): shells then get job control and
/// `^C` reaches them.
pub fn set_controlling_terminal(terminal: &OwnedFd) -> Result<(), String> {
    #[allow(unsafe_code, reason = "TIOCSCTTY has no safe wrapper in nix")]
    // SAFETY: the descriptor is open for the call's duration; the argument
    // is an integer (0: do not steal it from another session).
    unsafe { tiocsctty(terminal.as_raw_fd(), 0) }
        .map(drop)
        .map_err(|e| format!("TIOCSCTTY: {e}"))
}
