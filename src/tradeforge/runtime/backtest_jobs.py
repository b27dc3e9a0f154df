"""Backtests as background jobs of the service: each runs in a worker process, its files kept in var/."""

from __future__ import annotations

import json
import logging
import multiprocessing
import queue
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from tradeforge.domain.errors import TradeForgeError, ValidationError
from tradeforge.domain.identifiers import IdGenerator

logger = logging.getLogger(__name__)

JOB_ID = re.compile(r"^B[0-9a-f]{12,40}$")
JOB_FILE = "job.json"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobNotFound(TradeForgeError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no backtest job {job_id}")
        self.job_id = job_id


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """What to run: every value already validated by the caller (the API's schema)."""

    strategy: str
    params: Mapping[str, Any]
    symbol: str
    timeframe: str
    data_file: str
    start_ms: int | None = None
    end_ms: int | None = None
    cash: str = "100000"
    fee_rate: str = "0.001"
    slippage: str = "none"
    slippage_bps: str = "0"
    max_volume_share: str | None = None
    seed: int = 0


@dataclass(slots=True)
class BacktestJob:
    id: str
    request: BacktestRequest
    status: JobStatus = JobStatus.QUEUED
    created_at: int = 0
    started_at: int | None = None
    finished_at: int | None = None
    error: str | None = None
    summary: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["status"] = self.status.value
        body["request"] = dict(asdict(self.request), params=dict(self.request.params))
        return body


def run_job(job_dir: str, request: BacktestRequest) -> dict[str, Any]:
    """The worker's side (a separate process): load the bars, run, write the report; the summary."""
    from tradeforge.backtest.config import BacktestConfig
    from tradeforge.backtest.engine import run_backtest
    from tradeforge.backtest.feed import BarColumns

    config = BacktestConfig(
        strategy=request.strategy,
        params=dict(request.params),
        cash=Decimal(request.cash),
        fee_rate=Decimal(request.fee_rate),
        slippage=request.slippage,  # type: ignore[arg-type]
        slippage_bps=Decimal(request.slippage_bps),
        max_volume_share=None if request.max_volume_share is None else Decimal(request.max_volume_share),
        seed=request.seed,
    )
    bars = BarColumns.from_file(
        request.data_file, request.symbol, request.timeframe, start_ms=request.start_ms, end_ms=request.end_ms
    )
    run = run_backtest(config, bars, data_file=request.data_file)
    run.write_report(job_dir)
    summary: dict[str, Any] = run.result.summary_json()
    return summary


class BacktestJobs:
    """Queues backtests on a pool of worker processes (so a long run never stalls the API) and keeps
    each job's state in <var>/backtests/<id>/job.json next to its report. Jobs found on disk at start
    are listed again; one that was queued or running when the service stopped is marked failed."""

    def __init__(self, root: Path, workers: int = 1) -> None:
        self._root = root
        self._workers = workers
        self._jobs: dict[str, BacktestJob] = {}
        self._lock = threading.Lock()
        self._ids = IdGenerator("B")
        self._pool: ProcessPoolExecutor | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._load()

    def submit(self, request: BacktestRequest) -> BacktestJob:
        job = BacktestJob(self._ids.next(), request, created_at=_now())
        (self._root / job.id).mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._jobs[job.id] = job
            self._save(job)
            if not self._threads:
                # spawn: the service process has threads (journal, event loop) that fork would copy.
                self._pool = ProcessPoolExecutor(
                    self._workers, mp_context=multiprocessing.get_context("spawn")
                )
                for number in range(self._workers):
                    thread = threading.Thread(target=self._work, name=f"backtest-jobs-{number}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
        self._queue.put(job.id)
        return job

    def get(self, job_id: str) -> BacktestJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(job_id)
        return job

    def list(self) -> list[BacktestJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.id, reverse=True)

    def file(self, job_id: str, name: str) -> Path:
        job = self.get(job_id)
        if name not in job.files:
            raise ValidationError("file", f"job {job_id} has no {name} (status {job.status.value})")
        return self._root / job_id / name

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # --- internals -----------------------------------------------------------------------------
    def _work(self) -> None:
        """One job at a time per thread; the computing happens in the pool's worker process."""
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                job, pool = self._jobs[job_id], self._pool
                job.status, job.started_at = JobStatus.RUNNING, _now()
                self._save(job)
            try:
                if pool is None:
                    raise RuntimeError("the service stopped before the job ran")
                summary = pool.submit(run_job, str(self._root / job_id), job.request).result()
            except Exception as error:
                with self._lock:
                    job.status, job.error = JobStatus.FAILED, f"{type(error).__name__}: {error}"
                    job.finished_at = _now()
                    self._save(job)
                continue
            with self._lock:
                job.status, job.summary, job.finished_at = JobStatus.SUCCEEDED, summary, _now()
                job.files = sorted(p.name for p in (self._root / job_id).iterdir() if p.name != JOB_FILE)
                self._save(job)

    def _save(self, job: BacktestJob) -> None:
        path = self._root / job.id / JOB_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(job.to_dict(), default=str))
        temporary.replace(path)

    def _load(self) -> None:
        if not self._root.exists():
            return
        for path in sorted(self._root.glob(f"*/{JOB_FILE}")):
            try:
                raw = json.loads(path.read_text())
                request = BacktestRequest(**raw.pop("request"))
                job = BacktestJob(request=request, **{k: v for k, v in raw.items() if k != "status"})
                job.status = JobStatus(raw["status"])
            except (ValueError, TypeError, KeyError) as error:
                logger.warning("ignoring unreadable backtest job file %s: %s", path, error)
                continue
            if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                job.status, job.error = JobStatus.FAILED, "interrupted: the service stopped while it ran"
                self._save(job)
            self._jobs[job.id] = job


def _now() -> int:
    return time.time_ns() // 1_000_000


def valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID.match(job_id))
