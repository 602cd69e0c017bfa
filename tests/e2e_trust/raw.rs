//! A deliberately dumb HTTP/1.1 client: the request line, headers and body
//! go out byte for byte as given (no normalisation of `..`, `//`, percent
//! escapes or invalid UTF-8, no redirects followed), which a hostile client
//! can do and ordinary clients cannot.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

/// One answer, as received.
#[derive(Debug, Clone)]
pub struct RawResp {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What to send.
#[derive(Debug, Clone)]
pub struct RawReq<'a> {
    pub method: &'a str,
    /// Everything after `/v1/`, sent as is.
    pub target: &'a [u8],
    pub token: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: Option<&'a [u8]>,
}

/// Sends one request on a fresh connection (`Connection: close`) to `addr`
/// (`http://127.0.0.1:port`) and reads the whole answer.
pub fn send(addr: &str, req: &RawReq<'_>) -> RawResp {
    let host = addr.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let mut out = Vec::new();
    out.extend_from_slice(req.method.as_bytes());
    out.extend_from_slice(b" /v1/");
    out.extend_from_slice(req.target);
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n");
    if let Some(token) = req.token {
        out.extend_from_slice(format!("X-Vault-Token: {token}\r\n").as_bytes());
    }
    if let Some(content_type) = req.content_type {
        out.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    if let Some(body) = req.body {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = req.body {
        out.extend_from_slice(body);
    }
    // The server may answer and close before reading a large body; that is
    // an answer too, so a failed write is not an error here.
    let _ = stream.write_all(&out);
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            // A reset after a complete answer (unread body) still counts.
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "{} /v1/{}: {e}",
                req.method,
                String::from_utf8_lossy(req.target)
            ),
        }
    }
    parse(&raw, req.method == "HEAD")
        .unwrap_or_else(|| panic!("unparsable answer: {:?}", String::from_utf8_lossy(&raw)))
}

fn parse(raw: &[u8], head: bool) -> Option<RawResp> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head_text = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(RawResp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}
