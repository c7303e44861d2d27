//! Helpers for the CLI tests: spawn the real `asrs` binary, read its output lines on a thread,
//! wait for a line or for the exit with a deadline, and kill what is left when done.

#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long to wait for any expected line or exit.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// The binary under test, with the environment it reads cleared: no connection string from the
/// developer's environment, and a config file of the test's own.
pub(crate) fn asrs() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_asrs"));
    command
        .env_remove("Azure__SignalR__ConnectionString")
        .env_remove("AZURE_SIGNALR_CONNECTION_STRING")
        .env_remove("RUST_LOG")
        .env("ASRS_CONFIG", fresh_config_path());
    command
}

/// [`asrs`] reading and writing the config file at `config`.
pub(crate) fn asrs_with_config(config: &Path) -> Command {
    let mut command = asrs();
    command.env("ASRS_CONFIG", config);
    command
}

/// A config file path no other test uses (the file does not exist yet).
pub(crate) fn fresh_config_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir()
        .join(format!(
            "asrs-cli-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
        .join("config.json")
}

/// A running `asrs` process whose standard output arrives line by line.
pub(crate) struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every stdout line so far (for failure messages).
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    name: String,
}

impl Process {
    pub(crate) fn spawn(mut command: Command) -> Process {
        let name = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let out_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let collected = Arc::new(Mutex::new(String::new()));
        let sink = collected.clone();
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        Process {
            stdin: child.stdin.take(),
            child,
            lines,
            stdout: Vec::new(),
            stderr: collected,
            readers: vec![out_reader, err_reader],
            name,
        }
    }

    fn context(&self) -> String {
        format!(
            "process: {}\nstdout so far:\n{}\nstderr so far:\n{}",
            self.name,
            self.stdout.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Waits for the next stdout line that satisfies `wanted`, skipping others; panics (with
    /// the output so far) when none comes within [`WAIT`].
    pub(crate) fn wait_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line {what} within {WAIT:?}\n{}", self.context())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("stdout ended before a line {what}\n{}", self.context())
                }
            }
        }
    }

    /// The very next stdout line, which must satisfy `wanted`.
    pub(crate) fn next_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => {
                self.stdout.push(line.clone());
                assert!(
                    wanted(&line),
                    "next line is not {what}: {line:?}\n{}",
                    self.context()
                );
                line
            }
            Err(e) => panic!("no next line ({what}): {e:?}\n{}", self.context()),
        }
    }

    /// Writes one line to standard input.
    pub(crate) fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("writing to the child's stdin");
        stdin.flush().expect("flushing the child's stdin");
    }

    /// Closes standard input (end of input).
    pub(crate) fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits for the process to exit (stdout reaching its end first), within [`WAIT`].
    pub(crate) fn wait_exit(&mut self) -> ExitStatus {
        self.wait_exit_within(WAIT)
    }

    /// Waits for the process to exit (stdout reaching its end first), within `wait`.
    pub(crate) fn wait_exit_within(&mut self, wait: Duration) -> ExitStatus {
        let deadline = Instant::now() + wait;
        // Drain stdout: it ends when the process exits.
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self.stdout.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("process did not exit within {wait:?}\n{}", self.context())
                }
            }
        }
        // Stdout is closed, so the process has exited or is exiting now.
        let status = self.child.wait().expect("waiting for the child");
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status
    }

    /// The process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Every stdout line read so far.
    pub(crate) fn stdout(&self) -> &[String] {
        &self.stdout
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A finished `asrs` run.
pub(crate) struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `asrs args...` to completion with no input, within [`WAIT`].
pub(crate) fn run(mut command: Command, args: &[&str]) -> Run {
    command.args(args);
    let mut process = Process::spawn(command);
    process.close_stdin();
    let status = process.wait_exit();
    Run {
        status,
        stdout: process.stdout().join("\n"),
        stderr: process.stderr(),
    }
}

/// `asrs emulator start --port 0` running as a process.
pub(crate) struct EmulatorProcess {
    pub process: Process,
    pub connection_string: String,
}

pub(crate) fn start_emulator() -> EmulatorProcess {
    start_emulator_with(&[])
}

/// `asrs emulator start --port 0` with more arguments (e.g. `--access-key`).
pub(crate) fn start_emulator_with(args: &[&str]) -> EmulatorProcess {
    let mut command = asrs();
    command
        .args(["emulator", "start", "--port", "0"])
        .args(args);
    let mut process = Process::spawn(command);
    let connection_string =
        process.wait_line("starting with Endpoint=", |l| l.starts_with("Endpoint="));
    EmulatorProcess {
        process,
        connection_string,
    }
}

impl EmulatorProcess {
    /// `asrs` with `-c <this emulator> -h <hub>`.
    pub(crate) fn asrs(&self, hub: &str) -> Command {
        let mut command = asrs();
        command.args(["-c", &self.connection_string, "-h", hub]);
        command
    }
}

/// `asrs client <user>` connected to `emulator`, past its `Client started...` line; returns
/// the process and its connection id.
pub(crate) fn start_client(emulator: &EmulatorProcess, hub: &str, user: &str) -> (Process, String) {
    let mut command = emulator.asrs(hub);
    command.args(["client", user]);
    let mut client = Process::spawn(command);
    client.next_line("`Client started...`", |l| l == "Client started...");
    let id_line = client.next_line("with the connection id", |l| {
        l.starts_with("Connection ID: ")
    });
    let id = id_line
        .trim_start_matches("Connection ID: ")
        .trim()
        .to_owned();
    assert!(!id.is_empty(), "empty connection id");
    (client, id)
}
