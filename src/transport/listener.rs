//! The plugin's unix socket, in a directory only this user can enter, and the
//! stream of mTLS connections accepted on it.

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

/// A peer that has not finished its TLS handshake by then is dropped, so a
/// stalled client cannot hold resources.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const SOCKET_NAME: &str = "plugin.sock";

/// A bound unix socket in a fresh `0700` directory, removed on drop.
#[derive(Debug)]
pub struct PluginListener {
    dir: PathBuf,
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl PluginListener {
    /// Creates `$TMPDIR/vault-plugin-auth-ratls-<random>/plugin.sock`.
    pub fn bind() -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "vault-plugin-auth-ratls-{}",
            uuid::Uuid::new_v4().simple()
        ));
        // `create` (not `create_all`) fails if the name exists, so nobody can
        // have prepared the directory for us.
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let path = dir.join(SOCKET_NAME);
        let listener = match std::os::unix::net::UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(err) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(err);
            }
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            dir,
            path,
            listener,
        })
    }

    /// The socket's path, as announced in the handshake line.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections until `stop`, completing each TLS handshake off the
    /// accept loop. Connections that fail the handshake (wrong or missing
    /// client certificate) never reach gRPC.
    pub fn incoming(
        self,
        tls: Arc<rustls::ServerConfig>,
        stop: CancellationToken,
    ) -> ReceiverStream<io::Result<TlsConn>> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let acceptor = TlsAcceptor::from(tls);
        tokio::spawn(async move {
            let listener = match tokio::net::UnixListener::from_std(self.listener.try_clone()?) {
                Ok(listener) => listener,
                Err(err) => {
                    let _ = tx.send(Err(err)).await;
                    return Ok::<_, io::Error>(());
                }
            };
            loop {
                let stream = tokio::select! {
                    () = stop.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(err) => {
                            tracing::warn!(error = %err, "accepting a connection failed");
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(conn)) => {
                            let _ = tx.send(Ok(TlsConn(conn))).await;
                        }
                        Ok(Err(err)) => {
                            tracing::warn!(error = %err, "refused a connection: TLS handshake failed")
                        }
                        Err(_) => tracing::warn!("refused a connection: TLS handshake timed out"),
                    }
                });
            }
            drop(self);
            Ok(())
        });
        ReceiverStream::new(rx)
    }
}

impl Drop for PluginListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An accepted, authenticated connection, in the shape tonic serves.
pub struct TlsConn(TlsStream<UnixStream>);

impl Connected for TlsConn {
    type ConnectInfo = ();

    fn connect_info(&self) -> Self::ConnectInfo {}
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}
