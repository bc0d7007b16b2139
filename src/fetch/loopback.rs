//! A small HTTP/1.1 server on 127.0.0.1 for tests (RFC 9110 semantics, RFC 9112 framing): it serves files from
//! memory or from a folder, answers HEAD and single byte ranges (`Range: bytes=a-b`, `a-`, `-n` -> 206 with
//! `Content-Range`, 416 when unsatisfiable) and advertises `Accept-Ranges: bytes`, so GDAL's `/vsicurl/` can read
//! COGs from it; it answers POST on registered JSON routes (a tiny STAC API `/search`), logs every request and can
//! inject faults: cut a response after N body bytes, answer an error status, or ignore `Range` (200 with the whole
//! body, as some servers do).
//!
//! No dependencies beyond std and serde_json; a thread per connection, keep-alive honoured.
//!
//! ```no_run
//! use caco::fetch::loopback::{Reply, Server};
//! let server = Server::start().unwrap();
//! server.add_file("/data/a.zip", b"PK...".to_vec());       // GET/HEAD/Range on /data/a.zip
//! server.serve_dir("/tmp/cogs");                            // fallback: /x/y.tif -> /tmp/cogs/x/y.tif
//! server.add_json("/search", |body| serde_json::json!({ "echo": body }));   // POST JSON -> JSON
//! server.add_handler("/raw", |req| Reply::new(200, "text/plain", req.body.clone()));
//! server.cut_next("/data/a.zip", 100);     // the next GET sends the full headers but only 100 body bytes
//! server.fail_next("/data/a.zip", 503, 2); // the next two requests answer 503
//! server.ignore_ranges("/data/a.zip");     // Range is ignored: 200 and the whole file
//! let url = server.url("/data/a.zip");      // http://127.0.0.1:<port>/data/a.zip
//! let n = server.count("/data/a.zip");      // requests seen for that path (any method)
//! let log = server.requests();             // every request: method, target, headers, body
//! ```
//!
//! Route lookup uses the path without its query string (`/search?x=1` -> `/search`); the log keeps the full target.
//! Dropping the [`Server`] stops it.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent, query string included.
    pub target: String,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Reply {
            status,
            content_type: content_type.to_string(),
            body,
        }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    files: HashMap<String, Arc<Vec<u8>>>,
    handlers: HashMap<String, Handler>,
    dir: Option<PathBuf>,
    /// Path -> number of body bytes the next GET sends before the connection is closed.
    cuts: HashMap<String, u64>,
    /// Path -> (status, remaining count).
    failures: HashMap<String, (u16, usize)>,
    no_ranges: Vec<String>,
    log: Vec<Request>,
}

/// The server; see the module documentation. Stops when dropped.
pub struct Server {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and starts accepting.
    pub fn start() -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (state, stop) = (state.clone(), stop.clone());
                    std::thread::spawn(move || {
                        // A broken connection only ends that connection.
                        let _ = serve_connection(stream, &state, &stop);
                    });
                }
            })
        };
        Ok(Server {
            addr,
            state,
            stop,
            accept: Some(accept),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port><path>` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Serves `bytes` at `path` (GET, HEAD, ranges). Replaces an earlier file at that path.
    pub fn add_file(&self, path: &str, bytes: Vec<u8>) {
        self.state().files.insert(path.to_string(), Arc::new(bytes));
    }

    /// Serves the files under `dir` for paths not registered otherwise (`..` is refused).
    pub fn serve_dir(&self, dir: impl Into<PathBuf>) {
        self.state().dir = Some(dir.into());
    }

    /// Answers every method on `path` with `handler`.
    pub fn add_handler(&self, path: &str, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) {
        self.state().handlers.insert(path.to_string(), Arc::new(handler));
    }

    /// Answers POST on `path`: the body parsed as JSON goes to `handler`, its value is the JSON answer. A body that
    /// is not JSON gets 400, another method 405.
    pub fn add_json(
        &self,
        path: &str,
        handler: impl Fn(&serde_json::Value) -> serde_json::Value + Send + Sync + 'static,
    ) {
        self.add_handler(path, move |req| {
            if req.method != "POST" {
                return Reply::new(405, "text/plain", b"POST only\n".to_vec());
            }
            match serde_json::from_slice::<serde_json::Value>(&req.body) {
                Ok(value) => Reply::new(
                    200,
                    "application/json",
                    serde_json::to_vec(&handler(&value)).unwrap_or_default(),
                ),
                Err(e) => Reply::new(400, "text/plain", format!("bad JSON: {e}\n").into_bytes()),
            }
        });
    }

    /// The next GET of `path` sends its headers (with the full `Content-Length`) but only `n_bytes` of the body,
    /// then closes the connection: a truncated download.
    pub fn cut_next(&self, path: &str, n_bytes: u64) {
        self.state().cuts.insert(path.to_string(), n_bytes);
    }

    /// The next `times` requests of `path` answer `status` with an empty body.
    pub fn fail_next(&self, path: &str, status: u16, times: usize) {
        self.state().failures.insert(path.to_string(), (status, times));
    }

    /// Requests of `path` ignore `Range` and get 200 with the whole body, and no `Accept-Ranges` is advertised.
    pub fn ignore_ranges(&self, path: &str) {
        self.state().no_ranges.push(path.to_string());
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.state().log.clone()
    }

    /// The requests so far whose path (without query) is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.state().log.iter().filter(|r| r.path() == path).cloned().collect()
    }

    /// How many requests (any method) reached `path`.
    pub fn count(&self, path: &str) -> usize {
        self.state().log.iter().filter(|r| r.path() == path).count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>, stop: &AtomicBool) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let request = match read_request(&mut reader, stop)? {
            Some(request) => request,
            None => return Ok(()),
        };
        let keep_alive = !request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        lock(state).log.push(request.clone());
        let cut = respond(&request, state, &mut out)?;
        out.flush()?;
        if cut || !keep_alive {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return Ok(());
        }
    }
}

/// Reads one request; `None` at a clean end of the connection or when the server stops.
fn read_request(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> io::Result<Option<Request>> {
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return Ok(None),
            Ok(_) if line.trim().is_empty() => line.clear(), // tolerated blank lines between requests
            Ok(_) => break,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request line"));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if read_line_patiently(reader, &mut header, stop)? == 0 {
            return Ok(None);
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    let mut filled = 0;
    while filled < length {
        match reader.read(&mut body[filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e),
        }
    }
    request.body = body;
    Ok(Some(request))
}

fn read_line_patiently(reader: &mut BufReader<TcpStream>, line: &mut String, stop: &AtomicBool) -> io::Result<usize> {
    loop {
        match reader.read_line(line) {
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) {
                    return Ok(0);
                }
            }
            other => return other,
        }
    }
}

/// Writes the answer; true when the body was cut on purpose (the connection must close).
fn respond(request: &Request, state: &Mutex<State>, out: &mut TcpStream) -> io::Result<bool> {
    let path = request.path().to_string();
    let head = request.method == "HEAD";
    enum Found {
        Failure(u16),
        Handler(Handler),
        File(Arc<Vec<u8>>),
        Missing,
    }
    let (found, cut, ranges) = {
        let mut st = lock(state);
        let failure = match st.failures.get_mut(&path) {
            Some((status, left)) if *left > 0 => {
                *left -= 1;
                Some(*status)
            }
            _ => None,
        };
        let found = if let Some(status) = failure {
            Found::Failure(status)
        } else if let Some(handler) = st.handlers.get(&path) {
            Found::Handler(handler.clone())
        } else if let Some(file) = st.files.get(&path) {
            Found::File(file.clone())
        } else if let Some(file) = st.dir.as_deref().and_then(|dir| read_under(dir, &path)) {
            Found::File(Arc::new(file))
        } else {
            Found::Missing
        };
        let cut = if request.method == "GET" && matches!(found, Found::File(_)) {
            st.cuts.remove(&path)
        } else {
            None
        };
        let ranges = !st.no_ranges.contains(&path);
        (found, cut, ranges)
    };
    match found {
        Found::Failure(status) => write_simple(out, status, "text/plain", b"", head).map(|_| false),
        Found::Missing => write_simple(out, 404, "text/plain", b"not found\n", head).map(|_| false),
        Found::Handler(handler) => {
            let reply = handler(request);
            write_simple(out, reply.status, &reply.content_type, &reply.body, head).map(|_| false)
        }
        Found::File(bytes) => {
            if !matches!(request.method.as_str(), "GET" | "HEAD") {
                return write_simple(out, 405, "text/plain", b"GET or HEAD only\n", head).map(|_| false);
            }
            let len = bytes.len() as u64;
            let range = request.header("range").filter(|_| ranges);
            let (status, start, end) = match range.map(|r| parse_range(r, len)) {
                None => (200, 0, len),
                Some(Some((start, end))) => (206, start, end),
                Some(None) => {
                    let extra = format!("Content-Range: bytes */{len}\r\n");
                    write_head(out, 416, "text/plain", 0, &extra)?;
                    return Ok(false);
                }
            };
            let mut extra = String::new();
            if ranges {
                extra.push_str("Accept-Ranges: bytes\r\n");
            }
            if status == 206 {
                extra.push_str(&format!("Content-Range: bytes {start}-{}/{len}\r\n", end - 1));
            }
            write_head(out, status, "application/octet-stream", end - start, &extra)?;
            if head {
                return Ok(false);
            }
            let body = &bytes[start as usize..end as usize];
            match cut {
                Some(n) if n < body.len() as u64 => {
                    out.write_all(&body[..n as usize])?;
                    Ok(true)
                }
                _ => out.write_all(body).map(|_| false),
            }
        }
    }
}

/// `bytes=a-b` | `bytes=a-` | `bytes=-n` -> half-open `[start, end)`; `None` when unsatisfiable or malformed.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges are not supported
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        return (n > 0 && len > 0).then(|| (len.saturating_sub(n), len));
    }
    let start: u64 = a.parse().ok()?;
    let end = if b.is_empty() {
        len
    } else {
        b.parse::<u64>().ok()?.saturating_add(1).min(len)
    };
    (start < len && start < end).then_some((start, end))
}

fn read_under(dir: &Path, path: &str) -> Option<Vec<u8>> {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let file = dir.join(relative);
    file.is_file().then(|| std::fs::read(file).ok()).flatten()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn write_head(out: &mut TcpStream, status: u16, content_type: &str, length: u64, extra: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}\r\n",
        reason(status)
    );
    out.write_all(head.as_bytes())
}

fn write_simple(out: &mut TcpStream, status: u16, content_type: &str, body: &[u8], head: bool) -> io::Result<()> {
    write_head(out, status, content_type, body.len() as u64, "")?;
    if !head {
        out.write_all(body)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A raw HTTP/1.1 exchange on a fresh connection (`Connection: close`), returning (status, headers, body).
    fn exchange(server: &Server, request: &str) -> (u16, String, Vec<u8>) {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head, raw[split + 4..].to_vec())
    }

    fn get(path: &str, extra: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
    }

    #[test]
    fn serves_ranges_head_json_faults_and_a_folder() {
        let server = Server::start().unwrap();
        let data: Vec<u8> = (0..100u8).collect();
        server.add_file("/f.bin", data.clone());

        let (status, head, body) = exchange(&server, &get("/f.bin", ""));
        assert_eq!((status, body.as_slice()), (200, data.as_slice()));
        assert!(head.contains("Accept-Ranges: bytes") && head.contains("Content-Length: 100"));

        let (status, head, body) = exchange(&server, &get("/f.bin?x=1", "Range: bytes=10-19\r\n"));
        assert_eq!((status, body.as_slice()), (206, &data[10..20]));
        assert!(head.contains("Content-Range: bytes 10-19/100"), "{head}");
        assert_eq!(exchange(&server, &get("/f.bin", "Range: bytes=90-\r\n")).2, &data[90..]);
        assert_eq!(exchange(&server, &get("/f.bin", "Range: bytes=-5\r\n")).2, &data[95..]);
        assert_eq!(exchange(&server, &get("/f.bin", "Range: bytes=100-\r\n")).0, 416);

        let (status, head, body) = exchange(&server, "HEAD /f.bin HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(status == 200 && head.contains("Content-Length: 100") && body.is_empty());

        server.cut_next("/f.bin", 30);
        let (status, _, body) = exchange(&server, &get("/f.bin", ""));
        assert_eq!((status, body.as_slice()), (200, &data[..30]));
        assert_eq!(exchange(&server, &get("/f.bin", "")).2.len(), 100, "a cut applies once");

        server.fail_next("/f.bin", 503, 1);
        assert_eq!(exchange(&server, &get("/f.bin", "")).0, 503);
        assert_eq!(exchange(&server, &get("/f.bin", "")).0, 200);

        server.ignore_ranges("/f.bin");
        let (status, head, body) = exchange(&server, &get("/f.bin", "Range: bytes=10-\r\n"));
        assert_eq!((status, body.len()), (200, 100));
        assert!(!head.contains("Accept-Ranges"));

        server.add_json(
            "/search",
            |v| serde_json::json!({ "n": v["limit"].as_u64().unwrap_or(0) + 1 }),
        );
        let body = r#"{"limit": 41}"#;
        let post = format!(
            "POST /search HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, _, answer) = exchange(&server, &post);
        assert_eq!(status, 200);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&answer).unwrap()["n"], 42);
        assert_eq!(exchange(&server, &get("/search", "")).0, 405);

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/c.tif"), b"cog").unwrap();
        server.serve_dir(dir.path());
        assert_eq!(exchange(&server, &get("/sub/c.tif", "")).2, b"cog");
        assert_eq!(exchange(&server, &get("/sub/../sub/c.tif", "")).0, 404);
        assert_eq!(exchange(&server, &get("/missing", "")).0, 404);

        let log = server.requests_to("/f.bin");
        assert_eq!(log.len(), server.count("/f.bin"));
        assert_eq!(log[1].header("Range"), Some("bytes=10-19"));
        assert_eq!(log[1].target, "/f.bin?x=1");
        assert_eq!(server.requests_to("/search")[0].method, "POST");
    }

    #[test]
    fn keeps_a_connection_alive_across_requests() {
        let server = Server::start().unwrap();
        server.add_file("/a", b"hello".to_vec());
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .write_all(b"GET /a HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\nRange: bytes=1-2\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        assert!(
            raw.starts_with("HTTP/1.1 200") && raw.contains("HTTP/1.1 206") && raw.ends_with("el"),
            "{raw}"
        );
        assert_eq!(server.count("/a"), 2);
    }
}
