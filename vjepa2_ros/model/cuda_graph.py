"""One camera frame at a time through the encoder, replayed from a CUDA graph.

At batch 1 the ViT-g encoder is ~600 small kernels per frame (preprocessing, 40 blocks, norms):
launching them from Python costs ~4 ms of host time, more than the GPU needs to run them (~1 ms
of bf16 math on an H100). A CUDA graph records the launches once per frame shape and replays
them with one call, so latency is the GPU's. Capturing needs a GPU; elsewhere the wrapper calls
`WorldModel.encode` directly and returns the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch


class GraphedEncoder:
    """`encode(frame)` -> normalised latents [1, N, D], from a CUDA graph on a GPU.

    One graph per input frame shape (H, W), captured on first use after `warmup` eager runs
    (they build the RoPE and normalisation constants the graph then reads). A batch of more
    than one frame, or a CPU model, goes through `WorldModel.encode`. The returned tensor is a
    copy: the next replay overwrites the graph's output buffer.
    """

    def __init__(self, model, enabled: bool | None = None, warmup: int = 3) -> None:
        on_cuda = model.device.type == "cuda"
        if enabled and not on_cuda:
            raise ValueError(f"CUDA graphs need the model on a GPU; it is on {model.device}")
        self.model = model
        self.enabled = on_cuda if enabled is None else enabled
        self.warmup = warmup
        self._graphs: dict[tuple[int, ...], tuple] = {}

    @property
    def captured_shapes(self) -> list[tuple[int, ...]]:
        return list(self._graphs)

    def _as_frames(self, frames) -> torch.Tensor:
        if isinstance(frames, np.ndarray):
            frames = torch.from_numpy(np.ascontiguousarray(frames))
        if frames.ndim == 3:
            frames = frames.unsqueeze(0)
        return frames

    @torch.inference_mode()
    def _capture(self, shape: tuple[int, ...]) -> tuple:
        device = self.model.device
        static_in = torch.zeros(shape, dtype=torch.uint8, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture requires
            for _ in range(self.warmup):
                self.model.encode(static_in)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.model.encode(static_in)
        return graph, static_in, static_out

    @torch.inference_mode()
    def encode(self, frames) -> torch.Tensor:
        """uint8 RGB [H, W, 3] or [1, H, W, 3] -> [1, N, D] (any batch falls back to eager)."""
        frames = self._as_frames(frames)
        if not self.enabled or frames.shape[0] != 1 or frames.dtype != torch.uint8:
            return self.model.encode(frames)
        key = tuple(frames.shape)
        if key not in self._graphs:
            self._graphs[key] = self._capture(key)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(frames, non_blocking=frames.device.type == "cpu" and frames.is_pinned())
        graph.replay()
        return static_out.clone()

    __call__ = encode
