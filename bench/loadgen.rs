//! The HTTP load generator and process probes behind `make bench`
//! (`bench/run.sh`). Not part of the plugin.
//!
//! ```text
//! loadgen run --addr 127.0.0.1:8200 --token T --method PUT --path '/v1/kv/b/{key}' \
//!     --body '{"policy":"p","expiration":1800000000}' --concurrency 16 --duration 3
//! loadgen free-port               # a port p with p and p+1 free on 127.0.0.1
//! loadgen handshake --bin PLUGIN --launches 20 --tmpdir DIR
//! ```
//!
//! `run`: N worker threads, each with one keep-alive HTTP/1.1 connection,
//! send requests back to back for a warm-up, then for the measured window.
//! Only requests completing inside the window are counted; their latency
//! goes into an HDR histogram. Prints one JSON object
//! `{requests, errors, rps, p50_us, p99_us, …}` and exits 1 if any request
//! failed (transport error, non-2xx status, or a body without `--expect`).
//!
//! Templates in `--path` and `--body`: `{key}` is `--key-prefix` plus a
//! counter unique to this run; `{id}` is the next line of `--ids` (cycling,
//! or each line once with `--once`, stopping when they run out); `{code}` in
//! the body is a six-digit code, `--code-base` plus a counter, modulo 10^6
//! (OpenBao's totp engine refuses any code, even a wrong one, a second time
//! within its validity window).
//!
//! `--requests N` stops after N requests (use `--warmup 0` to measure all).
//! `consumed` in the output says how many `--ids` lines were used.
//!
//! `--watch name=pid` reads `/proc/<pid>/stat` (utime + stime) at the start
//! and end of the window and reports CPU µs, total and per request.
//!
//! Two clients: `--client raw` (default: hand-written HTTP/1.1 on a
//! `TcpStream`, one `write` per request) and `--client ureq`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::json;

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((c, rest)) => (c.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match command {
        "run" => run(&Flags::parse(rest)),
        "free-port" => free_port(),
        "handshake" => handshake(&Flags::parse(rest)),
        _ => Err(
            "usage: loadgen run|free-port|handshake [--flag value]… (see bench/loadgen.rs)"
                .to_owned(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("loadgen: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` pairs; `--watch` may repeat.
struct Flags(Vec<(String, String)>);

impl Flags {
    fn parse(args: &[String]) -> Self {
        let mut pairs = Vec::new();
        let mut it = args.iter();
        while let Some(name) = it.next() {
            let name = name.strip_prefix("--").unwrap_or(name).to_owned();
            match name.as_str() {
                "once" => pairs.push((name, "true".to_owned())),
                _ => pairs.push((name, it.next().cloned().unwrap_or_default())),
            }
        }
        Self(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{name}: bad number {v:?}")),
        }
    }
}

// ---------------------------------------------------------------- run

/// What every worker needs, shared read-only (plus atomics).
struct Job {
    addr: SocketAddr,
    host: String,
    token: String,
    method: String,
    path: String,
    body: String,
    key_prefix: String,
    code_base: u64,
    ids: Vec<String>,
    once: bool,
    expect: Option<String>,
    /// `--ok-status`: a non-2xx status that counts as an answer (e.g. 429
    /// of a locked-out verify), its body unchecked.
    ok_status: Option<u16>,
    save_uuid: bool,
    save_key: bool,
    client: String,
    phase: AtomicU8,
    /// `--requests`: stop after this many requests (0: no limit).
    limit: u64,
    sent: AtomicU64,
    counter: AtomicU64,
    next_id: AtomicUsize,
    exhausted: AtomicBool,
    first_error: Mutex<Option<String>>,
}

/// One worker's tally.
struct Tally {
    histogram: Histogram<u64>,
    errors: u64,
    saved: Vec<String>,
}

fn run(flags: &Flags) -> Result<ExitCode, String> {
    let addr_text = flags.require("addr")?;
    let addr: SocketAddr = addr_text
        .parse()
        .map_err(|e| format!("--addr {addr_text}: {e}"))?;
    let ids = match flags.get("ids") {
        None => Vec::new(),
        Some(file) => std::fs::read_to_string(file)
            .map_err(|e| format!("--ids {file}: {e}"))?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let path = flags.require("path")?.to_owned();
    if path.contains("{id}") && ids.is_empty() {
        return Err("the path uses {id} but --ids gave none".to_owned());
    }
    let save = flags.get("save").map(str::to_owned);
    let save_what = flags.get("save-what").unwrap_or("key");
    let job = Arc::new(Job {
        addr,
        host: addr_text.to_owned(),
        token: flags.require("token")?.to_owned(),
        method: flags.get("method").unwrap_or("GET").to_owned(),
        path,
        body: flags.get("body").unwrap_or("").to_owned(),
        key_prefix: flags.get("key-prefix").unwrap_or("k").to_owned(),
        code_base: flags.num("code-base", 0)?,
        ids,
        once: flags.get("once").is_some(),
        expect: flags.get("expect").map(str::to_owned),
        ok_status: flags.get("ok-status").and_then(|s| s.parse().ok()),
        save_uuid: save.is_some() && save_what == "uuid",
        save_key: save.is_some() && save_what == "key",
        client: flags.get("client").unwrap_or("raw").to_owned(),
        phase: AtomicU8::new(WARMUP),
        limit: flags.num("requests", 0)?,
        sent: AtomicU64::new(0),
        counter: AtomicU64::new(0),
        next_id: AtomicUsize::new(0),
        exhausted: AtomicBool::new(false),
        first_error: Mutex::new(None),
    });
    let concurrency: usize = flags.num("concurrency", 1)?;
    let duration = Duration::from_secs_f64(flags.num("duration", 3.0)?);
    let warmup = Duration::from_secs_f64(flags.num("warmup", 0.5)?);
    let clk_tck: u64 = flags.num("clk-tck", 100)?;
    let mut watched: Vec<(String, u32)> = flags
        .all("watch")
        .map(|w| {
            let (name, pid) = w.split_once('=').ok_or(format!("--watch {w}: name=pid"))?;
            let pid = pid.parse().map_err(|_| format!("--watch {w}: bad pid"))?;
            Ok((name.to_owned(), pid))
        })
        .collect::<Result<_, String>>()?;
    watched.push(("loadgen".to_owned(), std::process::id()));

    // Without a warm-up the window opens before the first request is sent.
    let mut opened = None;
    if warmup.is_zero() {
        opened = Some((cpu_ticks(&watched)?, Instant::now()));
        job.phase.store(MEASURE, Ordering::SeqCst);
    }
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let job = job.clone();
            std::thread::spawn(move || worker(&job))
        })
        .collect();
    let (cpu_before, t0) = match opened {
        Some(opened) => opened,
        None => {
            std::thread::sleep(warmup);
            let opened = (cpu_ticks(&watched)?, Instant::now());
            job.phase.store(MEASURE, Ordering::SeqCst);
            opened
        }
    };
    while t0.elapsed() < duration && !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(Duration::from_millis(5).min(duration.saturating_sub(t0.elapsed())));
    }
    job.phase.store(STOP, Ordering::SeqCst);
    let elapsed = t0.elapsed();
    let cpu_after = cpu_ticks(&watched)?;

    let mut histogram = new_histogram();
    let mut errors = 0;
    let mut saved = Vec::new();
    for worker in workers {
        let tally = worker.join().map_err(|_| "a worker panicked".to_owned())?;
        histogram.add(&tally.histogram).map_err(|e| e.to_string())?;
        errors += tally.errors;
        saved.extend(tally.saved);
    }
    if let Some(file) = &save {
        let mut text = saved.join("\n");
        text.push('\n');
        std::fs::write(file, text).map_err(|e| format!("--save {file}: {e}"))?;
    }

    let requests = histogram.len();
    let secs = elapsed.as_secs_f64();
    let per_tick_us = 1_000_000 / clk_tck.max(1);
    let mut cpu_us = serde_json::Map::new();
    let mut cpu_per_req = serde_json::Map::new();
    for ((name, _), (before, after)) in watched.iter().zip(cpu_before.iter().zip(&cpu_after)) {
        let us = after.saturating_sub(*before) * per_tick_us;
        cpu_us.insert(name.clone(), json!(us));
        let per = if requests > 0 {
            us as f64 / requests as f64
        } else {
            0.0
        };
        cpu_per_req.insert(name.clone(), json!(round2(per)));
    }
    let report = json!({
        "requests": requests,
        "errors": errors,
        "rps": round2(requests as f64 / secs),
        "p50_us": histogram.value_at_quantile(0.50),
        "p99_us": histogram.value_at_quantile(0.99),
        "p90_us": histogram.value_at_quantile(0.90),
        "p999_us": histogram.value_at_quantile(0.999),
        "max_us": histogram.max(),
        "mean_us": round2(histogram.mean()),
        "elapsed_s": round2(secs),
        "concurrency": concurrency,
        "client": job.client,
        "exhausted": job.exhausted.load(Ordering::SeqCst),
        "saved": saved.len(),
        "consumed": job.next_id.load(Ordering::SeqCst).min(job.ids.len()),
        "cpu_us": cpu_us,
        "cpu_us_per_req": cpu_per_req,
    });
    println!("{report}");
    if errors > 0 {
        let first = job
            .first_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        eprintln!(
            "loadgen: {errors} of the requests failed ({} {}); first: {}",
            job.method,
            job.path,
            first.unwrap_or_default()
        );
        return Ok(ExitCode::FAILURE);
    }
    if requests == 0 {
        eprintln!("loadgen: no request completed in the window");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// utime + stime (clock ticks) of each watched process, in order.
fn cpu_ticks(watched: &[(String, u32)]) -> Result<Vec<u64>, String> {
    watched
        .iter()
        .map(|(name, pid)| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_err(|e| format!("watching {name} (pid {pid}): {e}"))?;
            // `pid (comm) state ppid …`: utime and stime are fields 14 and 15.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            match (field(11), field(12)) {
                (Some(u), Some(s)) => Ok(u + s),
                _ => Err(format!("cannot parse /proc/{pid}/stat")),
            }
        })
        .collect()
}

/// The next request's path and body, or `None` when `--once` ids or the
/// `--requests` budget ran out.
fn next_request(job: &Job) -> Option<(String, String)> {
    if job.limit > 0 && job.sent.fetch_add(1, Ordering::Relaxed) >= job.limit {
        return None;
    }
    let mut path = job.path.clone();
    let mut body = job.body.clone();
    if path.contains("{key}") || body.contains("{key}") {
        let key = format!(
            "{}{}",
            job.key_prefix,
            job.counter.fetch_add(1, Ordering::Relaxed)
        );
        path = path.replace("{key}", &key);
        body = body.replace("{key}", &key);
    }
    if body.contains("{code}") {
        let n = job.code_base + job.counter.fetch_add(1, Ordering::Relaxed);
        body = body.replace("{code}", &format!("{:06}", n % 1_000_000));
    }
    if path.contains("{id}") || body.contains("{id}") {
        let n = job.next_id.fetch_add(1, Ordering::Relaxed);
        if job.once && n >= job.ids.len() {
            job.exhausted.store(true, Ordering::SeqCst);
            return None;
        }
        let id = &job.ids[n % job.ids.len()];
        path = path.replace("{id}", id);
        body = body.replace("{id}", id);
    }
    Some((path, body))
}

fn worker(job: &Job) -> Tally {
    let mut tally = Tally {
        histogram: new_histogram(),
        errors: 0,
        saved: Vec::new(),
    };
    let mut client = Client::new(job);
    while job.phase.load(Ordering::Relaxed) != STOP {
        let Some((path, body)) = next_request(job) else {
            break;
        };
        let start = Instant::now();
        let result = client.send(job, &path, &body);
        let latency = start.elapsed();
        let phase = job.phase.load(Ordering::Relaxed);
        let failure = match &result {
            Ok((status, _)) if Some(*status) == job.ok_status => None,
            Ok((status, _)) if !(200..300).contains(status) => Some(format!("HTTP {status}")),
            Ok((_, text)) => match &job.expect {
                Some(want) if !text.contains(want.as_str()) => Some(format!("body lacks {want:?}")),
                _ => None,
            },
            Err(e) => Some(format!("transport: {e}")),
        };
        if let Some(failure) = failure {
            // Failures count whenever they happen: a warm-up error is still an error.
            tally.errors += 1;
            if let Ok(mut first) = job.first_error.lock() {
                if first.is_none() {
                    let text = result.map(|(_, t)| t).unwrap_or_default();
                    *first = Some(format!(
                        "{} {path}: {failure}: {}",
                        job.method,
                        text.chars().take(400).collect::<String>()
                    ));
                }
            }
            continue;
        }
        if let Ok((_, text)) = &result {
            if job.save_uuid {
                if let Some(uuid) = find_uuid(text) {
                    tally.saved.push(uuid.to_owned());
                }
            } else if job.save_key {
                if let Some(key) = path.rsplit('/').next() {
                    tally.saved.push(key.to_owned());
                }
            }
        }
        if phase == MEASURE {
            let us = u64::try_from(latency.as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            tally.histogram.saturating_record(us);
        }
    }
    tally
}

/// `"uuid":"<36 chars>"` in a response body, without parsing the JSON.
fn find_uuid(text: &str) -> Option<&str> {
    let start = text.find("\"uuid\":\"")? + 8;
    text.get(start..start + 36)
}

// ---------------------------------------------------------------- clients

enum Client {
    Raw(RawConn),
    Ureq(ureq::Agent, String),
}

impl Client {
    fn new(job: &Job) -> Self {
        match job.client.as_str() {
            "ureq" => {
                let agent = ureq::Agent::new_with_config(
                    ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .proxy(None)
                        .max_idle_connections_per_host(1)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build(),
                );
                Self::Ureq(agent, format!("http://{}", job.host))
            }
            _ => Self::Raw(RawConn::new(job.addr)),
        }
    }

    fn send(&mut self, job: &Job, path: &str, body: &str) -> Result<(u16, String), String> {
        match self {
            Self::Raw(conn) => conn.send(job, path, body).map_err(|e| e.to_string()),
            Self::Ureq(agent, base) => {
                let builder = ureq::http::Request::builder()
                    .method(job.method.as_str())
                    .uri(format!("{base}{path}"))
                    .header("X-Vault-Token", &job.token);
                let result = if body.is_empty() {
                    agent.run(builder.body(()).map_err(|e| e.to_string())?)
                } else {
                    let request = builder
                        .header("Content-Type", "application/json")
                        .body(body.to_owned())
                        .map_err(|e| e.to_string())?;
                    agent.run(request)
                };
                let mut response = result.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let text = response
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| e.to_string())?;
                Ok((status, text))
            }
        }
    }
}

/// One keep-alive HTTP/1.1 connection with hand-written framing: enough for
/// Go's net/http answers (Content-Length or chunked bodies, 204s).
struct RawConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    out: Vec<u8>,
    buf: Vec<u8>,
}

impl RawConn {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            out: Vec::with_capacity(1024),
            buf: Vec::with_capacity(8192),
        }
    }

    fn send(&mut self, job: &Job, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let result = self.exchange(job, path, body);
        if result.is_err() {
            // Start over on a fresh connection next time.
            self.stream = None;
            self.buf.clear();
        }
        result
    }

    fn exchange(&mut self, job: &Job, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        self.out.clear();
        write!(
            self.out,
            "{} {path} HTTP/1.1\r\nHost: {}\r\nX-Vault-Token: {}\r\n",
            job.method, job.host, job.token
        )?;
        if !body.is_empty() || job.method == "PUT" || job.method == "POST" {
            write!(
                self.out,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            )?;
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body.as_bytes());
        stream.write_all(&self.out)?;

        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            fill(stream, &mut self.buf)?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| std::io::Error::other("response head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("bad status line"))?;
        let mut length = None;
        let mut chunked = false;
        let mut close = false;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        self.buf.drain(..head_end);
        let body = if status == 204 || status == 304 || (100..200).contains(&status) {
            Vec::new()
        } else if chunked {
            read_chunked(stream, &mut self.buf)?
        } else if let Some(length) = length {
            while self.buf.len() < length {
                fill(stream, &mut self.buf)?;
            }
            self.buf.drain(..length).collect()
        } else {
            close = true;
            stream.read_to_end(&mut self.buf)?;
            std::mem::take(&mut self.buf)
        };
        if close {
            self.stream = None;
            self.buf.clear();
        }
        let text = String::from_utf8(body).map_err(|_| std::io::Error::other("body not UTF-8"))?;
        Ok((status, text))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads more bytes into `buf`; EOF is an error (the answer is incomplete).
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed mid-response",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            fill(stream, buf)?;
        };
        let size_text = std::str::from_utf8(&buf[..line_end]).unwrap_or("");
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers (none expected) end with an empty line.
            loop {
                if let Some(i) = find(buf, b"\r\n") {
                    buf.drain(..i + 2);
                    if i == 0 {
                        return Ok(body);
                    }
                    continue;
                }
                fill(stream, buf)?;
            }
        }
        while buf.len() < size + 2 {
            fill(stream, buf)?;
        }
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}

// ---------------------------------------------------------------- probes

/// Prints a port `p` such that `p` and `p + 1` are free on 127.0.0.1 (the
/// dev server also listens on `p + 1` for its cluster).
fn free_port() -> Result<ExitCode, String> {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        let both = TcpListener::bind(("127.0.0.1", port))
            .and_then(|a| TcpListener::bind(("127.0.0.1", next)).map(|b| (a, b)));
        if both.is_ok() {
            println!("{port}");
            return Ok(ExitCode::SUCCESS);
        }
    }
    Err("no free pair of adjacent ports".to_owned())
}

/// Launches the plugin with the host's environment `--launches` times and
/// times spawn → first stdout line (the handshake); kills it each time.
fn handshake(flags: &Flags) -> Result<ExitCode, String> {
    let bin = flags.require("bin")?;
    let launches: usize = flags.num("launches", 20)?;
    let tmpdir = flags.get("tmpdir").map(str::to_owned);
    let pem = go_plugin_like_cert()?;
    let mut samples = Vec::with_capacity(launches);
    let mut line = String::new();
    for _ in 0..launches {
        let mut command = Command::new(bin);
        command
            .env_clear()
            .env(
                "VAULT_BACKEND_PLUGIN",
                "6669da05-b1c8-4f49-97d9-c8e5bed98e20",
            )
            .env("PLUGIN_PROTOCOL_VERSIONS", "5")
            .env("PLUGIN_CLIENT_CERT", &pem)
            .env("VAULT_PLUGIN_AUTOMTLS_ENABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(dir) = &tmpdir {
            command.env("TMPDIR", dir);
        }
        let start = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("spawning {bin}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        line.clear();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let elapsed = start.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        if !line.starts_with("1|5|unix|") {
            return Err(format!("unexpected handshake line {line:?}"));
        }
        samples.push(elapsed.as_secs_f64() * 1000.0);
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        0.0
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    let report = json!({
        "launches": launches,
        "median_ms": round3(median),
        "min_ms": round3(sorted.first().copied().unwrap_or(0.0)),
        "max_ms": round3(sorted.last().copied().unwrap_or(0.0)),
        "samples_ms": samples.iter().map(|s| round3(*s)).collect::<Vec<_>>(),
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A certificate like the one go-plugin's host puts in `PLUGIN_CLIENT_CERT`:
/// self-signed P-521/SHA-512, `CN=localhost`, client and server auth.
fn go_plugin_like_cert() -> Result<String, String> {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).map_err(|e| e.to_string())?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into()]).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyAgreement,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok(cert.pem())
}
