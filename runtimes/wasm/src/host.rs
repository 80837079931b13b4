//! Per-store host state: one struct holding the `ResourceTable`, `WasiCtx`
//! and `WasiHttpCtx` (as wasmtime's `serve.rs`), plus the memory limiter and
//! CPU account that turn `resources.limits` into store limits and epoch
//! deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, UpdateDeadline};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outgoing::OutgoingHooks;

/// How often the engine's epoch advances: the granularity of CPU limits,
/// stops and request deadlines.
pub const TICK: Duration = Duration::from_millis(1);

/// The CFS-style period over which a CPU limit is enforced (the kernel's
/// default `cpu.cfs_period_us` is 100 ms too).
pub const CPU_PERIOD: Duration = Duration::from_millis(100);

/// Usage shared between a container's stores and its status/stats.
#[derive(Debug, Default)]
pub struct Usage {
    /// Guest CPU time in nanoseconds (measured at tick granularity).
    pub cpu_nanos: AtomicU64,
    /// Linear memory in use now, summed over live stores.
    pub memory_bytes: AtomicU64,
    /// The most linear memory one store has held.
    pub memory_peak: AtomicU64,
    /// Set when a store hit the memory limit (the OOM kill).
    pub oom: AtomicBool,
}

/// The memory limiter of one store: growth past the limit traps (rather than
/// returning -1, which most guests turn into an abort with a vaguer message),
/// and the trap is recorded as an OOM kill.
pub struct Limiter {
    limit: Option<u64>,
    held: u64,
    usage: Arc<Usage>,
}

impl Limiter {
    /// A limiter for `limit` bytes (none: unbounded) reporting into `usage`.
    pub fn new(limit: Option<u64>, usage: Arc<Usage>) -> Self {
        Limiter {
            limit,
            held: 0,
            usage,
        }
    }
}

impl Drop for Limiter {
    fn drop(&mut self) {
        self.usage
            .memory_bytes
            .fetch_sub(self.held, Ordering::Relaxed);
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = (desired - current.min(desired)) as u64;
        let total = self.held + grow;
        if self.limit.is_some_and(|l| total > l) {
            self.usage.oom.store(true, Ordering::Relaxed);
            wasmtime::bail!(
                "memory limit of {} bytes exceeded (wanted {total})",
                self.limit.unwrap_or(0)
            );
        }
        self.held = total;
        self.usage.memory_bytes.fetch_add(grow, Ordering::Relaxed);
        self.usage.memory_peak.fetch_max(total, Ordering::Relaxed);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        // The pooling allocator's slot is smaller than asked: treat it as the
        // limit it is, so the guest traps instead of limping on.
        self.usage.oom.store(true, Ordering::Relaxed);
        Err(error)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// CPU accounting and throttling for one store, driven from the epoch
/// deadline callback: every tick the guest runs, it is charged the time
/// since the previous tick; once it has used its quota of the current period
/// it sleeps until the period ends (CFS bandwidth control, cooperatively).
pub struct CpuAccount {
    quota: Option<Duration>,
    period_start: Instant,
    used_in_period: Duration,
    last: Instant,
    usage: Arc<Usage>,
    deadline: Option<Instant>,
}

impl CpuAccount {
    /// An account for `millicores` (none: unthrottled). A `deadline` makes the
    /// guest trap once passed (per-request deadlines of services).
    pub fn new(millicores: Option<u64>, usage: Arc<Usage>, deadline: Option<Instant>) -> Self {
        let now = Instant::now();
        CpuAccount {
            quota: millicores.map(|m| CPU_PERIOD.mul_f64(m as f64 / 1000.0)),
            period_start: now,
            used_in_period: Duration::ZERO,
            last: now,
            usage,
            deadline,
        }
    }

    /// Called on each epoch deadline: charge, then continue, yield, sleep or trap.
    pub fn on_tick(&mut self) -> wasmtime::Result<UpdateDeadline> {
        let now = Instant::now();
        if self.deadline.is_some_and(|d| now >= d) {
            wasmtime::bail!(DeadlineExceeded);
        }
        // A long gap means the guest was blocked in a host call, not
        // computing: charge at most two ticks for it.
        let ran = now.saturating_duration_since(self.last).min(TICK * 2);
        self.last = now;
        self.usage
            .cpu_nanos
            .fetch_add(ran.as_nanos() as u64, Ordering::Relaxed);
        let Some(quota) = self.quota else {
            // Yielding every tick keeps the executor fair and lets a stop
            // drop the future promptly.
            return Ok(UpdateDeadline::Yield(1));
        };
        if now.duration_since(self.period_start) >= CPU_PERIOD {
            self.period_start = now;
            self.used_in_period = Duration::ZERO;
        }
        self.used_in_period += ran;
        if self.used_in_period < quota {
            return Ok(UpdateDeadline::Yield(1));
        }
        let wake = self.period_start + CPU_PERIOD;
        self.period_start = wake;
        self.used_in_period = Duration::ZERO;
        self.last = wake;
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::time::sleep_until(wake.into())),
        ))
    }
}

/// The trap a store raises when its deadline passes.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("deadline exceeded")]
pub struct DeadlineExceeded;

/// Host state of a component store (P2 commands and HTTP services).
pub struct Host {
    /// Resources handed to the guest.
    pub table: ResourceTable,
    /// WASI state: args, env, preopens, stdio.
    pub wasi: WasiCtx,
    /// wasi:http state.
    pub http: WasiHttpCtx,
    /// How outgoing requests are sent: from the pod's IP.
    pub outgoing: OutgoingHooks,
    /// Memory limiter.
    pub limiter: Limiter,
    /// CPU account.
    pub cpu: CpuAccount,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// Host state of a core-module store (WASI P1 commands).
pub struct P1Host {
    /// WASI P1 state.
    pub wasi: WasiP1Ctx,
    /// Memory limiter.
    pub limiter: Limiter,
    /// CPU account.
    pub cpu: CpuAccount,
}
