//! Streaming HTTP(S) downloads that survive interruptions (RFC 9110 range requests): bytes go to `<file>.part`, an
//! interrupted transfer resumes with `Range: bytes=N-` (206 appends; a server that answers 200 instead restarts the
//! file from zero; 416 on a complete `.part` is success), and connection errors, truncated bodies, 408, 429 and
//! 5xx are retried with exponential backoff. Every error names the URL.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::progress::Progress;
use crate::{Error, Result};

/// Retry and timeout policy.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts after the first, counted from the last attempt that made progress.
    pub retries: u32,
    /// First wait; doubled after every failed attempt, at most `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Connection and response-header timeout (the body may take as long as it needs while data flows).
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 5,
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1-based).
    pub fn wait(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// A blocking HTTP client.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    pub policy: RetryPolicy,
}

/// What went wrong in one attempt.
enum Failure {
    /// Worth another attempt (connection error, truncated body, 5xx...).
    Retry(String),
    /// Not worth one (404, 403...).
    Fatal(String),
}

impl Client {
    pub fn new(policy: RetryPolicy) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(policy.timeout))
            .timeout_recv_response(Some(policy.timeout))
            // No limit on the body: a large file may take hours (ureq has no idle timeout; Ctrl-C and a re-run
            // resume from the .part file).
            .timeout_recv_body(None)
            .user_agent(concat!("caco/", env!("CARGO_PKG_VERSION"), " (dataset download)"))
            .build();
        Client {
            agent: config.into(),
            policy,
        }
    }

    /// `Content-Length` from a HEAD request, if the server gives one (used for the progress total only).
    pub fn content_length(&self, url: &str) -> Option<u64> {
        let response = self.agent.head(url).call().ok()?;
        if !response.status().is_success() {
            return None;
        }
        header_u64(response.headers(), "content-length")
    }

    /// GETs a small text document (a JSON API answer), with retries.
    pub fn get_text(&self, url: &str) -> Result<String> {
        let mut attempt = 0;
        loop {
            let outcome = (|| -> std::result::Result<String, Failure> {
                let response = self
                    .agent
                    .get(url)
                    .header("Accept", "application/json")
                    .call()
                    .map_err(|e| Failure::Retry(e.to_string()))?;
                let status = response.status().as_u16();
                if let Some(failure) = status_failure(status) {
                    return Err(failure);
                }
                let mut body = response.into_body();
                body.with_config()
                    .limit(64 << 20)
                    .read_to_string()
                    .map_err(|e| Failure::Retry(e.to_string()))
            })();
            match outcome {
                Ok(text) => return Ok(text),
                Err(Failure::Fatal(reason)) => return Err(download_error(url, reason)),
                Err(Failure::Retry(reason)) => {
                    attempt += 1;
                    if attempt > self.policy.retries {
                        return Err(download_error(
                            url,
                            format!("{reason} (gave up after {attempt} attempts)"),
                        ));
                    }
                    std::thread::sleep(self.policy.wait(attempt));
                }
            }
        }
    }

    /// Downloads `url` to `dest`, through `dest.part`, resuming a `.part` left by an earlier run. Bytes received
    /// are added to `progress`. Returns the file size.
    pub fn download(&self, url: &str, dest: &Path, progress: Option<&Progress>) -> Result<u64> {
        let part = part_path(dest);
        let mut attempt = 0;
        loop {
            let before = file_len(&part);
            match self.attempt(url, &part, progress) {
                Ok(()) => {
                    std::fs::rename(&part, dest).map_err(|e| Error::io(dest, e))?;
                    return Ok(file_len(dest));
                }
                Err(Failure::Fatal(reason)) => return Err(download_error(url, reason)),
                Err(Failure::Retry(reason)) => {
                    // Progress resets the count: a long download may be interrupted many times.
                    if file_len(&part) > before {
                        attempt = 0;
                    }
                    attempt += 1;
                    if attempt > self.policy.retries {
                        return Err(download_error(
                            url,
                            match file_len(&part) {
                                0 => format!("{reason} (gave up after {} attempts)", self.policy.retries + 1),
                                kept => format!(
                                    "{reason} (gave up after {} attempts without progress; {kept} bytes kept in \
                                     {}, run again to resume)",
                                    self.policy.retries + 1,
                                    part.display()
                                ),
                            },
                        ));
                    }
                    std::thread::sleep(self.policy.wait(attempt));
                }
            }
        }
    }

    /// One GET, appending to `part` from its current length.
    fn attempt(&self, url: &str, part: &Path, progress: Option<&Progress>) -> std::result::Result<(), Failure> {
        let have = file_len(part);
        let mut request = self.agent.get(url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let response = request.call().map_err(|e| Failure::Retry(e.to_string()))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let (start, total) = match status {
            206 => {
                let (start, total) = content_range(&headers)
                    .ok_or_else(|| Failure::Retry("206 without a usable Content-Range".into()))?;
                if start != have {
                    // Not the range we asked for: start over.
                    truncate(part, 0)?;
                    return Err(Failure::Retry(format!("server resumed at byte {start}, not {have}")));
                }
                (start, total)
            }
            200 => {
                if have > 0 {
                    // The server ignored the range: the body is the whole file.
                    truncate(part, 0)?;
                }
                (0, header_u64(&headers, "content-length"))
            }
            416 if have > 0 => {
                // Nothing left to send: complete if the server's size is ours, else start over.
                let total = headers
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.rsplit('/').next())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                if total == Some(have) {
                    return Ok(());
                }
                truncate(part, 0)?;
                return Err(Failure::Retry(format!(
                    "416 for a {have}-byte partial file: restarting"
                )));
            }
            other => {
                return Err(status_failure(other).unwrap_or_else(|| Failure::Fatal(format!("unexpected HTTP {other}"))))
            }
        };

        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", part.display())))?;
        let mut reader = response.into_body().into_reader();
        let mut written = start;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = file.flush();
                    return Err(Failure::Retry(format!("connection lost after {written} bytes: {e}")));
                }
            };
            file.write_all(&buf[..n])
                .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", part.display())))?;
            written += n as u64;
            if let Some(p) = progress {
                p.inc(n as u64);
            }
        }
        file.flush()
            .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", part.display())))?;
        match total {
            Some(total) if written < total => {
                Err(Failure::Retry(format!("body ended after {written} of {total} bytes")))
            }
            Some(total) if written > total => {
                truncate(part, 0)?;
                Err(Failure::Retry(format!(
                    "received {written} bytes, more than the announced {total}"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// `<dest>.part`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn truncate(path: &Path, len: u64) -> std::result::Result<(), Failure> {
    match File::options().write(true).open(path) {
        Ok(f) => f
            .set_len(len)
            .map_err(|e| Failure::Fatal(format!("cannot truncate {}: {e}", path.display()))),
        Err(_) => Ok(()),
    }
}

fn header_u64(headers: &ureq::http::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `Content-Range: bytes a-b/total` -> (a, total if known).
fn content_range(headers: &ureq::http::HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get("content-range")?.to_str().ok()?;
    let spec = value.trim().strip_prefix("bytes")?.trim();
    let (range, total) = spec.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// The failure for a non-success status, `None` for 2xx.
fn status_failure(status: u16) -> Option<Failure> {
    match status {
        200..=299 => None,
        408 | 429 | 500..=599 => Some(Failure::Retry(format!("HTTP {status}"))),
        401 | 403 => Some(Failure::Fatal(format!(
            "HTTP {status}: the server refuses access (a login may be needed; download it in a browser and use --from)"
        ))),
        404 | 410 => Some(Failure::Fatal(format!(
            "HTTP {status}: not found (the file may have moved; check the official page, or use --from)"
        ))),
        other => Some(Failure::Fatal(format!("HTTP {other}"))),
    }
}

fn download_error(url: &str, reason: String) -> Error {
    Error::Download {
        url: url.into(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            ..Default::default()
        };
        let waits: Vec<u128> = (1..=5).map(|a| policy.wait(a).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(policy.wait(100), Duration::from_millis(500));
    }
}
