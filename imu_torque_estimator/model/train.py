"""Training loop, readable in one sitting.

1. Split the sequences by subject (train / validation); normalisation statistics from train only.
2. Each step: sample `batch` random windows of burn_in + window samples (truncated back-propagation
   through time: gradients flow through at most one window), run the RNN from a zero state, take
   the MSE on normalised targets after the burn-in (the state needs a few samples to settle, as in
   the streaming engine after a reset), AdamW step with gradient clipping. The learning rate decays
   on a cosine over the run (by steps or by the time budget, whichever is further along, so a
   time-limited run still anneals).
3. Every `eval_every` steps: validation loss on whole validation sequences from a zero state (the
   way the engine runs), skipping the first burn_in samples; keep the best weights; stop early
   after `patience` evaluations without improvement or when the time budget is spent.
4. Log one JSON line per evaluation to `log_path`; show a rich progress bar.
Deterministic for a given seed, thread count and machine when no time budget is set.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..extras import require

require("torch")  # one clear message naming the 'train' extra instead of a bare ModuleNotFoundError
import torch  # noqa: E402

from .config import TrainConfig  # noqa: E402  (re-exported; torch-free home for the CLI)
from .dataset import Sequence, WindowSampler, normalisation_stats, pad_batch, split_by_subject  # noqa: E402
from .network import NetworkConfig, TorqueRNN  # noqa: E402


@dataclass
class TrainResult:
    model: TorqueRNN
    history: list[dict]
    best_val_loss: float
    best_step: int
    train_subjects: list[str]
    val_subjects: list[str]
    elapsed_s: float
    stop_reason: str


def _masked_mse(y: torch.Tensor, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    se = ((y - t) ** 2).mean(dim=-1)
    return (se * mask).sum() / mask.sum().clamp(min=1)


@torch.no_grad()
def evaluate_loss(model: TorqueRNN, seqs: SequenceABC[Sequence], burn_in: int) -> tuple[float, np.ndarray]:
    """Normalised MSE and per-output RMSE (Nm/kg) over whole sequences run from a zero state."""
    model.eval()
    x, y, m = (torch.from_numpy(a) for a in pad_batch(seqs))
    m[:, :burn_in] = False
    pred_n, _ = model.forward_normalised(x)
    t_n = (y - model.out_mean) / model.out_std
    loss = float(_masked_mse(pred_n, t_n, m.float()))
    err = (pred_n - t_n) * model.out_std
    rmse = torch.sqrt((err ** 2 * m[..., None]).sum(dim=(0, 1)) / m.sum()).numpy()
    return loss, rmse


def train(seqs: SequenceABC[Sequence], cfg: TrainConfig, log_path: str | Path | None = None,
          progress: bool = True, val_seqs: SequenceABC[Sequence] | None = None) -> TrainResult:
    """Train a TorqueRNN on `seqs` (split by subject unless `val_seqs` is given)."""
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    if val_seqs is None:
        train_seqs, val_seqs = split_by_subject(seqs, cfg.val_fraction, cfg.seed)
    else:
        train_seqs = list(seqs)
    val_eval = list(val_seqs)[: cfg.max_val_sequences]
    if not train_seqs or not val_eval:
        raise ValueError("training needs non-empty train and validation sets")

    # --- model with normalisation from the training split only
    stats = normalisation_stats(train_seqs)
    net_cfg = NetworkConfig(n_in=train_seqs[0].features.shape[1], n_out=train_seqs[0].targets.shape[1],
                            hidden=cfg.hidden, layers=cfg.layers, cell=cfg.cell)
    model = TorqueRNN(net_cfg)
    model.set_normalisation(stats["in_mean"], stats["in_std"], stats["out_mean"], stats["out_std"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sampler = WindowSampler(train_seqs, cfg.burn_in + cfg.window, cfg.seed)
    mask = torch.zeros(cfg.batch, cfg.burn_in + cfg.window)
    mask[:, cfg.burn_in:] = 1.0

    log = open(log_path, "w") if log_path else None  # noqa: SIM115 (closed in finally)
    history: list[dict] = []
    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))
    since_best, stop_reason, running = 0, "max_steps", []
    bar = _progress(progress)
    try:
        task = bar.add_task(f"train {cfg.cell} {cfg.layers}x{cfg.hidden}", total=cfg.max_steps,
                            info="") if bar else None
        for step in range(1, cfg.max_steps + 1):
            # --- learning rate: cosine decay over the run (steps or time budget, whichever ends first)
            done = (step - 1) / cfg.max_steps
            if cfg.time_budget_s:
                done = max(done, (time.perf_counter() - t0) / cfg.time_budget_s)
            lr_min = cfg.lr * cfg.lr_final_frac
            for g in opt.param_groups:
                g["lr"] = lr_min + 0.5 * (cfg.lr - lr_min) * (1.0 + np.cos(np.pi * min(1.0, done)))

            # --- one optimisation step on random windows
            model.train()
            xb, yb = (torch.from_numpy(a) for a in sampler.sample(cfg.batch))
            pred_n, _ = model.forward_normalised(xb)
            loss = _masked_mse(pred_n, (yb - model.out_mean) / model.out_std, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            running.append(loss.item())

            # --- periodic validation, early stopping, log
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                val_loss, val_rmse = evaluate_loss(model, val_eval, cfg.burn_in)
                rec = {"step": step, "train_loss": float(np.mean(running)), "val_loss": val_loss,
                       "val_rmse_nm_per_kg": [round(float(v), 5) for v in val_rmse],
                       "lr": opt.param_groups[0]["lr"], "elapsed_s": round(time.perf_counter() - t0, 2)}
                running = []
                history.append(rec)
                if log:
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                if val_loss < best[0]:
                    best, since_best = (val_loss, step, copy.deepcopy(model.state_dict())), 0
                else:
                    since_best += 1
                if bar:
                    bar.update(task, info=f"val {val_loss:.4f} (best {best[0]:.4f} @ {best[1]})")
                if since_best >= cfg.patience:
                    stop_reason = "early_stopping"
                    break
            if bar:
                bar.update(task, advance=1)
            if cfg.time_budget_s is not None and time.perf_counter() - t0 > cfg.time_budget_s:
                stop_reason = "time_budget"
                break
    finally:
        if bar:
            bar.stop()
        if log:
            log.close()
    model.load_state_dict(best[2])
    model.eval()
    return TrainResult(model=model, history=history, best_val_loss=best[0], best_step=best[1],
                       train_subjects=sorted({s.subject for s in train_seqs}),
                       val_subjects=sorted({s.subject for s in val_seqs}),
                       elapsed_s=time.perf_counter() - t0, stop_reason=stop_reason)


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[info]}"), transient=False)
    bar.start()
    return bar
