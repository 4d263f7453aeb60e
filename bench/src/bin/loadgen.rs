//! A load generator for tus servers, over raw keep-alive HTTP/1.1
//! connections with `TCP_NODELAY`.
//!
//! ```text
//! loadgen big ENDPOINT BYTES                      one upload in a single PATCH
//! loadgen many ENDPOINT COUNT BYTES               COUNT such uploads at once
//! loadgen rawfile DIR BYTES                       the same bytes written straight to a file
//! loadgen small ENDPOINT COUNT CONCURRENCY BYTES  POST + PATCH + HEAD per upload
//! loadgen trickle ENDPOINT UPLOADS BYTES_PER_SEC SECONDS
//! ```
//! Each mode prints one `RESULT key=value ...` line.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BLOCK: usize = 1024 * 1024;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One keep-alive connection speaking just enough HTTP/1.1.
struct Conn {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(4096),
        })
    }

    async fn send_head(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<(), Error> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nTus-Resumable: 1.0.0\r\n",
            self.host
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.stream.write_all(head.as_bytes()).await?;
        Ok(())
    }

    async fn read_reply(&mut self, has_body: bool) -> Result<Reply, Error> {
        let end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .ok_or("bad status line")?
            .parse()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        self.buf.drain(..end);
        let reply = Reply { status, headers };
        if has_body {
            if reply
                .header("transfer-encoding")
                .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
            {
                loop {
                    let line = self.read_line().await?;
                    let size =
                        usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)?;
                    if size == 0 {
                        // Trailers, if any, end with an empty line.
                        while !self.read_line().await?.is_empty() {}
                        break;
                    }
                    self.fill(size + 2).await?;
                    self.buf.drain(..size + 2);
                }
            } else {
                let len: usize = reply.header("content-length").map_or(Ok(0), str::parse)?;
                self.fill(len).await?;
                self.buf.drain(..len);
            }
        }
        Ok(reply)
    }

    async fn fill(&mut self, n: usize) -> Result<(), Error> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err("connection closed in body".into());
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
        Ok(())
    }

    async fn read_line(&mut self) -> Result<String, Error> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                self.buf.drain(..pos + 2);
                return Ok(line);
            }
            let have = self.buf.len();
            self.fill(have + 1).await?;
        }
    }

    async fn create(&mut self, base: &str, length: u64) -> Result<String, Error> {
        self.send_head(
            "POST",
            base,
            &[
                ("Upload-Length", length.to_string()),
                ("Content-Length", "0".into()),
            ],
        )
        .await?;
        let reply = self.read_reply(true).await?;
        if reply.status != 201 {
            return Err(format!("POST answered {}", reply.status).into());
        }
        let location = reply.header("location").ok_or("no Location")?;
        // Absolute or relative: keep the path.
        let path = match location.find("://") {
            Some(i) => {
                &location[location[i + 3..]
                    .find('/')
                    .map_or(location.len(), |j| i + 3 + j)..]
            }
            None => location,
        };
        Ok(path.to_owned())
    }

    async fn patch_head(&mut self, path: &str, offset: u64, len: u64) -> Result<(), Error> {
        self.send_head(
            "PATCH",
            path,
            &[
                ("Upload-Offset", offset.to_string()),
                ("Content-Type", "application/offset+octet-stream".into()),
                ("Content-Length", len.to_string()),
            ],
        )
        .await
    }
}

fn parse_endpoint(endpoint: &str) -> Result<(SocketAddr, String), Error> {
    let rest = endpoint
        .strip_prefix("http://")
        .ok_or("endpoint must be http://host:port/path")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let addr = authority.parse()?;
    Ok((addr, format!("/{path}")))
}

fn block() -> Vec<u8> {
    (0..BLOCK).map(|i| (i * 31 % 251) as u8).collect()
}

async fn big(endpoint: &str, size: u64) -> Result<(), Error> {
    let (addr, base) = parse_endpoint(endpoint)?;
    let data = Arc::new(block());
    let mut conn = Conn::open(addr).await?;
    let path = conn.create(&base, size).await?;
    let start = Instant::now();
    patch_whole(&mut conn, &path, size, &data).await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT mode=big bytes={size} secs={secs:.3} mib_per_s={:.1}",
        size as f64 / secs / 1048576.0
    );
    Ok(())
}

async fn many(endpoint: &str, count: usize, size: u64) -> Result<(), Error> {
    let (addr, base) = parse_endpoint(endpoint)?;
    let data = Arc::new(block());
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (base, data) = (base.clone(), data.clone());
        workers.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let path = conn.create(&base, size).await?;
            patch_whole(&mut conn, &path, size, &data).await
        });
    }
    while let Some(res) = workers.join_next().await {
        res??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT mode=many uploads={count} bytes_each={size} secs={secs:.3} mib_per_s={:.1}",
        (count as u64 * size) as f64 / secs / 1048576.0
    );
    Ok(())
}

/// One PATCH of `size` bytes from offset 0, checked to be kept whole.
async fn patch_whole(conn: &mut Conn, path: &str, size: u64, data: &[u8]) -> Result<(), Error> {
    conn.patch_head(path, 0, size).await?;
    let mut left = size;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        conn.stream.write_all(&data[..n]).await?;
        left -= n as u64;
    }
    let reply = conn.read_reply(true).await?;
    if reply.status != 204 || reply.header("upload-offset") != Some(size.to_string().as_str()) {
        return Err(format!(
            "PATCH answered {} offset {:?}",
            reply.status,
            reply.header("upload-offset")
        )
        .into());
    }
    Ok(())
}

fn rawfile(dir: &str, size: u64) -> Result<(), Error> {
    let data = block();
    let path = std::path::Path::new(dir).join("rawfile-baseline.bin");
    let start = Instant::now();
    let mut file = std::fs::File::create(&path)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        file.write_all(&data[..n])?;
        left -= n as u64;
    }
    drop(file);
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    println!(
        "RESULT mode=rawfile bytes={size} secs={secs:.3} mib_per_s={:.1}",
        size as f64 / secs / 1048576.0
    );
    Ok(())
}

async fn small(endpoint: &str, count: usize, concurrency: usize, size: usize) -> Result<(), Error> {
    let (addr, base) = parse_endpoint(endpoint)?;
    let data = Arc::new(block()[..size].to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (base, data, next) = (base.clone(), data.clone(), next.clone());
        workers.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let path = conn.create(&base, size as u64).await?;
                conn.patch_head(&path, 0, size as u64).await?;
                conn.stream.write_all(&data).await?;
                let reply = conn.read_reply(true).await?;
                if reply.status != 204 {
                    return Err::<(), Error>(format!("PATCH answered {}", reply.status).into());
                }
                conn.send_head("HEAD", &path, &[]).await?;
                let reply = conn.read_reply(false).await?;
                if reply.header("upload-offset") != Some(size.to_string().as_str()) {
                    return Err("HEAD shows a wrong offset".into());
                }
            }
            Ok(())
        });
    }
    while let Some(res) = workers.join_next().await {
        res??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "RESULT mode=small uploads={count} secs={secs:.3} uploads_per_s={:.1}",
        count as f64 / secs
    );
    Ok(())
}

async fn trickle(endpoint: &str, uploads: usize, rate: usize, seconds: u64) -> Result<(), Error> {
    let (addr, base) = parse_endpoint(endpoint)?;
    let piece = rate / 8;
    let total = (rate as u64) * seconds;
    let data = Arc::new(block()[..piece].to_vec());
    let ok = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..uploads {
        let (base, data, ok) = (base.clone(), data.clone(), ok.clone());
        workers.spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let path = conn.create(&base, total).await?;
            conn.patch_head(&path, 0, total).await?;
            let mut tick = tokio::time::interval(Duration::from_millis(125));
            let mut sent = 0u64;
            while sent < total {
                tick.tick().await;
                let n = (total - sent).min(piece as u64) as usize;
                conn.stream.write_all(&data[..n]).await?;
                sent += n as u64;
            }
            let reply = conn.read_reply(true).await?;
            if reply.status == 204 {
                ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), Error>(())
        });
    }
    let mut failed = 0;
    while let Some(res) = workers.join_next().await {
        if !matches!(res, Ok(Ok(()))) {
            failed += 1;
        }
    }
    println!(
        "RESULT mode=trickle uploads={uploads} completed={} failed={failed} bytes_each={total}",
        ok.load(Ordering::Relaxed)
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| Error::from("missing argument; see the file's docs"))
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match arg(0)? {
        "big" => rt.block_on(big(arg(1)?, arg(2)?.parse()?)),
        "many" => rt.block_on(many(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?)),
        "rawfile" => rawfile(arg(1)?, arg(2)?.parse()?),
        "small" => rt.block_on(small(
            arg(1)?,
            arg(2)?.parse()?,
            arg(3)?.parse()?,
            arg(4)?.parse()?,
        )),
        "trickle" => rt.block_on(trickle(
            arg(1)?,
            arg(2)?.parse()?,
            arg(3)?.parse()?,
            arg(4)?.parse()?,
        )),
        other => Err(format!("unknown mode {other}").into()),
    }
}
