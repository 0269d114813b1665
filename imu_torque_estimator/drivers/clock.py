"""Device sample clock -> ROS (host) time mapping with drift tracking. ROS-free.

An IMU stamps every sample with its own counter (Xsens SampleTimeFine: 10 kHz ticks, 32-bit, wraps
after ~4.97 days). The host sees each sample only after a variable transport delay (USB/serial
buffering, scheduling), so stamping with the host receive time adds that jitter to every stamp.
`SampleClock` instead fits host_time - device_time = offset + skew * device_time over a sliding
(exponentially forgotten, time constant `time_constant_s`) window by weighted least squares on the
least-delayed observation of each `block_s` block, gating outliers, and stamps each sample at its
device time mapped through the fit. The device clock's
+-30 ppm frequency error (Xsens MT0100P 5.6) is the skew term. Any constant part of the transport
delay is indistinguishable from the offset and stays in the stamps (it is common to all samples).

Weighted LS on a 2-parameter line is written out here (closed form, O(1) per sample, running sums)
rather than refitting with numpy/scipy over a stored window: it runs once per IMU sample in the
driver's read loop and costs a few microseconds (cost_us_per_sample in benchmarks/results/xsens.json).
"""

from __future__ import annotations

import math

from ..units import NS_PER_S


class SampleClock:
    """Maps wrapping device tick counts to host-clock nanoseconds (int), tracking offset and drift.

    Call `observe(ticks, host_ns)` with receive times (preferably the least delayed ones, e.g. the last
    frame of each read), then `to_host_ns(ticks)` for every sample. `unwrap` handles counter wrap.
    """

    def __init__(
        self,
        tick_hz: int = 10_000,
        wrap_bits: int = 32,
        time_constant_s: float = 20.0,
        gate_floor_s: float = 0.002,
        gate_sigmas: float = 6.0,
        skew_prior_ppm: float = 50.0,
        reset_after_outliers: int = 20,
        block_s: float = 0.1,
    ) -> None:
        if tick_hz <= 0 or NS_PER_S % tick_hz:
            raise ValueError(f"tick_hz must divide 1e9 exactly, got {tick_hz}")
        self.tick_hz = int(tick_hz)
        self.ns_per_tick = NS_PER_S // self.tick_hz
        self.wrap = 1 << int(wrap_bits)
        self.time_constant_s = float(time_constant_s)
        self.gate_floor_ns = float(gate_floor_s) * NS_PER_S
        self.gate_sigmas = float(gate_sigmas)
        self.skew_prior_ns_per_s = float(skew_prior_ppm) * 1e3  # 1 ppm = 1000 ns per s
        self.reset_after_outliers = int(reset_after_outliers)
        self.block_s = float(block_s)
        self.outliers = 0
        self.resets = -1  # reset() below counts itself
        self.reset()

    # ----------------------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget everything (device restarted or reconnected: its counter restarted)."""
        self._last_raw: int | None = None
        self._ext = 0  # extended (unwrapped) ticks of the newest sample
        self._host0: int | None = None  # host ns at extended tick 0
        self._u_ref = 0.0  # device seconds of the regression reference point
        self._s0 = self._st = self._stt = self._sy = self._sty = 0.0
        self._abs_res = 0.0
        self._n = 0
        self._consecutive_outliers = 0
        self._a = 0.0
        self._b = 0.0
        self._block_u: float | None = None
        self._block_y = 0.0
        self._block_start = 0.0
        self.resets += 1

    @property
    def initialised(self) -> bool:
        return self._host0 is not None

    @property
    def observations(self) -> int:
        """Blocks that entered the fit."""
        return self._n

    @property
    def skew_ppm(self) -> float:
        """Estimated (host rate / device rate - 1) in parts per million."""
        return self._b * 1e6 / NS_PER_S

    def unwrap(self, raw_ticks: int) -> int:
        """Extended tick count for a raw (wrapping) counter value, relative to the first one seen.

        Steps of less than half the counter range are taken as forward (wrap) or backward (an older
        sample mapped late); the newest sample defines the reference.
        """
        raw = int(raw_ticks) % self.wrap
        if self._last_raw is None:
            self._last_raw = raw
            self._ext = 0
            return 0
        delta = (raw - self._last_raw) % self.wrap
        if delta >= self.wrap // 2:
            return self._ext + delta - self.wrap  # older than the newest sample
        self._ext += delta
        self._last_raw = raw
        return self._ext

    def step_ticks(self, raw_ticks: int) -> int:
        """Signed tick difference raw - newest (wrap aware), without changing state."""
        if self._last_raw is None:
            return 0
        delta = (int(raw_ticks) - self._last_raw) % self.wrap
        return delta - self.wrap if delta >= self.wrap // 2 else delta

    # ----------------------------------------------------------------------------- fit
    def observe(self, raw_ticks: int, host_ns: int) -> bool:
        """Add one (device ticks, host receive ns) pair; returns False if its block was gated.

        Observations are grouped in blocks of `block_s` device seconds; only the least delayed one
        of each block enters the fit (transport delay is one-sided: late arrivals carry no timing
        information beyond the earliest one), which rejects queueing spikes and halves the spread.
        """
        ext = self.unwrap(raw_ticks)
        if self._host0 is None:
            self._host0 = int(host_ns) - ext * self.ns_per_tick
        u = ext / self.tick_hz  # device seconds since the first sample
        y = float(int(host_ns) - self._host0 - ext * self.ns_per_tick)  # offset change, ns
        if self._block_u is None:
            self._block_u, self._block_y, self._block_start = u, y, u
        elif y < self._block_y:
            self._block_u, self._block_y = u, y
        if self._n == 0:  # before the first block completes: best offset so far, no skew
            self._a, self._b, self._u_ref = self._block_y, 0.0, self._block_u
        if u - self._block_start < self.block_s:
            return True
        bu, by = self._block_u, self._block_y
        self._block_u = None
        return self._add(bu, by, raw_ticks, host_ns)

    def _add(self, u: float, y: float, raw_ticks: int, host_ns: int) -> bool:
        # move the regression reference to u (keeps sums small) and forget old data
        d = u - self._u_ref
        if d:
            s0, st = self._s0, self._st
            self._stt = self._stt - 2.0 * d * st + d * d * s0
            self._sty = self._sty - d * self._sy
            self._st = st - d * s0
            self._u_ref = u
            if d > 0:
                w = math.exp(-d / self.time_constant_s)
                self._s0 *= w
                self._st *= w
                self._stt *= w
                self._sy *= w
                self._sty *= w
        if self._n >= 1:
            residual = y - self._predict(u)
            scale = self._abs_res * 1.2533  # mean |r| -> sigma for a normal distribution
            if self._n >= 5 and abs(residual) > max(self.gate_floor_ns, self.gate_sigmas * scale):
                self.outliers += 1
                self._consecutive_outliers += 1
                if self._consecutive_outliers >= self.reset_after_outliers:
                    # the relation changed for good (host clock step, device restart): start over
                    self.reset()
                    self.observe(raw_ticks, host_ns)
                return False
            self._abs_res += (abs(residual) - self._abs_res) * (0.3 if self._n < 10 else 0.05)
        self._consecutive_outliers = 0
        # add (u_rel = 0, y) with unit weight
        self._s0 += 1.0
        self._sy += y
        self._n += 1
        self._solve()
        return True

    def _solve(self) -> None:
        s0, st, stt, sy, sty = self._s0, self._st, self._stt, self._sy, self._sty
        # Gaussian prior on the skew (zero mean, skew_prior_ppm std: crystal +-30 ppm plus host clock
        # rate error) as ridge term (sigma_y / sigma_b)^2, so a fit over a short span does not
        # extrapolate a noisy slope; negligible once the window spans many seconds
        sigma_y = max(self._abs_res * 1.2533, 1e4)
        ridge = (sigma_y / self.skew_prior_ns_per_s) ** 2
        det = s0 * (stt + ridge) - st * st
        self._b = (s0 * sty - st * sy) / det if det > 0 else 0.0
        self._a = (sy - self._b * st) / s0 if s0 > 0 else 0.0

    def _predict(self, u: float) -> float:
        return self._a + self._b * (u - self._u_ref)

    def to_host_ns(self, raw_ticks: int) -> int:
        """Host-clock time (ns) of the sample with this raw tick count."""
        if self._host0 is None:
            raise RuntimeError("SampleClock.to_host_ns before any observe()")
        ext = self._ext + self.step_ticks(raw_ticks)
        return self._host0 + ext * self.ns_per_tick + round(self._predict(ext / self.tick_hz))
