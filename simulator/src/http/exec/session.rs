//! One exec session over an upgraded WebSocket: the remotecommand channel protocol.
//!
//! Every message is binary, its first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 the
//! error channel (Status JSON), 4 terminal resizes; in v5, `[255, n]` closes channel `n`. Like
//! the API server, the session first sends an empty message on the lowest output channel, then
//! (once the command has run) its output, the status, and a normal WebSocket close, and waits for
//! the client to close the connection.

use super::options::ExecOptions;
use super::status::{self, Protocol};
use crate::kubelet::{Exec, ExecEnd, ExecResult};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use std::time::Duration;

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;
/// Ctrl-D: a terminal's end of input.
const EOT: u8 = 4;
/// The largest data message sent.
const CHUNK: usize = 32 * 1024;
/// How long the session waits for the client to close the connection after the status.
const FINISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Run the session; a client that goes away ends it early.
pub async fn run(mut socket: WebSocket, protocol: Protocol, opts: ExecOptions, exec: Exec) {
    let _ = session(&mut socket, protocol, &opts, exec).await;
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut bytes = Vec::with_capacity(data.len() + 1);
    bytes.push(channel);
    bytes.extend_from_slice(data);
    Message::Binary(bytes.into())
}

async fn send_output(socket: &mut WebSocket, channel: u8, data: &[u8]) -> Result<(), axum::Error> {
    for chunk in data.chunks(CHUNK) {
        socket.send(frame(channel, chunk)).await?;
    }
    Ok(())
}

/// What the client sends on stdin, up to its end: the v5 close signal for channel 0, Ctrl-D on a
/// terminal, or the connection closing (the only end v4 has).
async fn read_stdin(socket: &mut WebSocket, protocol: Protocol, tty: bool) -> Vec<u8> {
    let mut input = vec![];
    while let Some(Ok(msg)) = socket.recv().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        match data.split_first() {
            Some((&CLOSE, [STDIN])) if protocol == Protocol::V5 => break,
            Some((&STDIN, rest)) if tty => match rest.iter().position(|b| *b == EOT) {
                Some(end) => {
                    input.extend(
                        rest[..end]
                            .iter()
                            .map(|b| if *b == b'\r' { b'\n' } else { *b }),
                    );
                    break;
                }
                None => input.extend(rest.iter().map(|b| if *b == b'\r' { b'\n' } else { *b })),
            },
            Some((&STDIN, rest)) => input.extend_from_slice(rest),
            _ => {}
        }
    }
    input
}

/// A terminal's output translation: `\n` becomes `\r\n`.
fn onlcr(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for b in data {
        if *b == b'\n' {
            out.push(b'\r');
        }
        out.push(*b);
    }
    out
}

async fn session(
    socket: &mut WebSocket,
    protocol: Protocol,
    opts: &ExecOptions,
    exec: Exec,
) -> Result<(), axum::Error> {
    let first = if opts.stdout {
        STDOUT
    } else if opts.stderr {
        STDERR
    } else {
        ERROR
    };
    socket.send(frame(first, &[])).await?;
    let stdin = if opts.stdin && exec.reads_stdin() {
        read_stdin(socket, protocol, opts.tty).await
    } else {
        vec![]
    };
    let argv = exec.argv().to_vec();
    let result = tokio::task::spawn_blocking(move || exec.run(stdin))
        .await
        .unwrap_or_else(|e| ExecResult {
            stdout: vec![],
            stderr: vec![],
            end: ExecEnd::NotStarted(format!("the simulated command failed: {e}")),
        });
    if opts.tty {
        let mut all = result.stdout.clone();
        all.extend_from_slice(&result.stderr);
        if opts.stdout {
            send_output(socket, STDOUT, &onlcr(&all)).await?;
        }
    } else {
        if opts.stdout {
            send_output(socket, STDOUT, &result.stdout).await?;
        }
        if opts.stderr {
            send_output(socket, STDERR, &result.stderr).await?;
        }
    }
    let status = status::encode(&result.end, &argv, protocol);
    socket.send(frame(ERROR, &status)).await?;
    socket
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await?;
    let closed = async {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(FINISH_TIMEOUT, closed).await;
    Ok(())
}
