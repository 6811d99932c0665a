//! The stand-in's control-plane restart: the listener really closes (a client gets
//! connection refused, not a 503), every open connection is cut mid-stream, and after the
//! outage the server listens on the same port again, as a restarted kube-apiserver does.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{serve, Request, State};

/// When an outage starts: the first request matching this arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageTrigger {
    /// `GET`, `PATCH`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// A part of the path (`/runtimeclasses/`, `/api/v1/nodes`).
    pub path_contains: String,
    /// Only a watch (`GET` with `watch=true`) matches; else only a non-watch request.
    pub watch: bool,
    /// How long the server stays away.
    pub down: Duration,
}

impl OutageTrigger {
    fn matches(&self, r: &Request) -> bool {
        r.method == self.method
            && r.path.contains(&self.path_contains)
            && r.is_watch() == self.watch
    }
}

/// Whether the server is away, and the flag that cuts the connections of this epoch.
#[derive(Default)]
pub(super) struct Gate {
    down: AtomicBool,
    /// Set while the port is closed (the accept loop dropped its listener).
    closed: AtomicBool,
    /// The connections accepted since the last restart watch this flag.
    epoch: Mutex<Arc<AtomicBool>>,
    triggers: Mutex<Vec<OutageTrigger>>,
    fired: AtomicUsize,
}

impl Gate {
    /// The flag the connection being served stops on.
    pub(super) fn connection_flag(&self) -> Arc<AtomicBool> {
        self.epoch.lock().unwrap().clone()
    }

    /// Cuts every open connection (they all see their flag set).
    pub(super) fn cut_connections(&self) {
        let mut e = self.epoch.lock().unwrap();
        e.store(true, Ordering::SeqCst);
        *e = Arc::new(AtomicBool::new(false));
    }

    pub(super) fn arm(&self, t: OutageTrigger) {
        self.triggers.lock().unwrap().push(t);
    }

    pub(super) fn pending(&self) -> Vec<OutageTrigger> {
        self.triggers.lock().unwrap().clone()
    }

    pub(super) fn fired(&self) -> usize {
        self.fired.load(Ordering::SeqCst)
    }

    /// Whether `r` starts an outage (then it has started: the caller drops `r`).
    pub(super) fn trips(self: &Arc<Self>, r: &Request) -> bool {
        if self.down.load(Ordering::SeqCst) {
            return true;
        }
        let t = {
            let mut ts = self.triggers.lock().unwrap();
            match ts.iter().position(|t| t.matches(r)) {
                Some(i) => ts.remove(i),
                None => return false,
            }
        };
        Gate::outage(self, t.down);
        true
    }

    /// Goes down now (returns once the port is closed) and comes back after `down`.
    pub(super) fn outage(gate: &Arc<Gate>, down: Duration) {
        gate.fired.fetch_add(1, Ordering::SeqCst);
        gate.down.store(true, Ordering::SeqCst);
        gate.cut_connections();
        while !gate.closed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
        let g = gate.clone();
        std::thread::spawn(move || {
            std::thread::sleep(down);
            g.down.store(false, Ordering::SeqCst);
        });
    }
}

/// The accept loop: serves each connection on its own thread; drops the listener while the
/// gate is down and binds the same address again when it is up.
pub(super) fn accept(
    listener: TcpListener,
    st: Arc<(Mutex<State>, Condvar)>,
    stop: Arc<AtomicBool>,
    gate: Arc<Gate>,
) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    // Polling lets the loop notice an outage or the end without a connection arriving.
    let mut listener = nonblocking(listener);
    while !stop.load(Ordering::SeqCst) {
        if gate.down.load(Ordering::SeqCst) {
            listener = None;
            gate.closed.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let Some(l) = &listener else {
            listener = rebind(addr);
            if listener.is_some() {
                gate.closed.store(false, Ordering::SeqCst);
            } else {
                std::thread::sleep(Duration::from_millis(5));
            }
            continue;
        };
        match l.accept() {
            Ok((conn, _)) => {
                if conn.set_nonblocking(false).is_err() {
                    continue;
                }
                let (st, g) = (st.clone(), gate.clone());
                std::thread::spawn(move || serve(conn, st, g));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn nonblocking(l: TcpListener) -> Option<TcpListener> {
    l.set_nonblocking(true).ok().map(|_| l)
}

/// The same port again (std sets SO_REUSEADDR, so the closed connections' TIME_WAIT does
/// not stand in the way).
fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    TcpListener::bind(addr).ok().and_then(nonblocking)
}

/// Whether something listens at `addr` now (tests assert the outage is a real refusal).
pub fn listening(addr: &str) -> bool {
    TcpStream::connect(addr).is_ok()
}
