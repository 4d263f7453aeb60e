//! Servers the tests start under a shell that kills them once the test
//! binary ends (its end closes the shell's standard input), so that none
//! outlives the run, however the binary ends.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A server running under its shell.
pub struct Supervised {
    shell: Child,
    pid: u32,
}

impl Supervised {
    /// Runs `command` (a shell command line, its arguments `$0`, `$1`, …
    /// taken from `args`) in the background of a shell that waits for its
    /// standard input to close, then kills it.
    pub fn start<S: AsRef<OsStr>>(command: &str, args: &[S]) -> Supervised {
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{command} & echo $!; cat >/dev/null; kill -9 $! 2>/dev/null"
            ))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server's shell starts");
        let mut pid = String::new();
        BufReader::new(shell.stdout.take().unwrap())
            .read_line(&mut pid)
            .unwrap();
        let pid = pid
            .trim()
            .parse()
            .expect("the shell tells the server's pid");
        Supervised { shell, pid }
    }

    /// Kills the server with SIGKILL, and its shell.
    pub fn kill(mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        drop(self.shell.stdin.take());
        let _ = self.shell.wait();
    }
}
