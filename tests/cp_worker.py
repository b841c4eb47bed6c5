"""Run by tests/test_scale.py under ``torchrun --nproc_per_node 2`` (gloo, CPU): the tiny ReCamMaster DiT with
diffusers' context parallelism (Ulysses) against the same model in one process: forward outputs and the gradients
of a training step (summed over the CP group) must be equal. Rank 0 writes a JSON of the maximal differences.

Teardown order matters. ``enable_context_parallel`` stores a device mesh in the model, and the mesh holds its gloo
process groups (``DeviceMesh._pg_registry``); the model sits in reference cycles (diffusers' hooks), so plain
reference counting never frees it and ``destroy_process_group`` only drops the registry's references. Left so, the
groups -- with their gloo worker threads -- were freed by the garbage collector during interpreter shutdown, where a
worker thread needing the GIL is killed inside C++: rank 1 aborted now and then under load ("terminate called
without an active exception", exit -6). So: free the model and its mesh while the interpreter is alive, wait for
every rank (no rank closes its gloo connections while a peer still uses them), then destroy the groups.
"""

from __future__ import annotations

import gc
import json
import sys

import torch
import torch.distributed as dist


def main(out_path: str, ulysses: int, ring: int) -> None:
    dist.init_process_group("gloo")
    from recam.tiny import tiny_transformer

    torch.manual_seed(0)
    m = tiny_transformer(seed=1)
    with torch.no_grad():
        for p in m.camera_parameters():
            p.add_(0.1 * torch.randn_like(p))
    m.enable_gradient_checkpointing()
    m.train()
    # 3 target + 3 source latent frames of 4x6 tokens: 144 tokens, 72 per rank (frames straddle the split)
    x = torch.randn(2, 16, 6, 8, 12)
    t = torch.tensor([900.0, 100.0])
    ctx = torch.randn(2, 5, 32)
    cam = torch.randn(2, 3, 12)

    def step():
        m.zero_grad()
        out = m(x, t, ctx, cam).sample
        out.square().mean().backward()
        return out.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}

    ref_out, ref_grads = step()
    m.enable_context_parallel(ulysses_degree=ulysses, ring_degree=ring)
    out, grads = step()
    for g in grads.values():  # each rank holds its tokens' share of the parameter gradients
        dist.all_reduce(g)
    res = {"out_max_abs_diff": float((out - ref_out).abs().max()), "out_max_abs": float(ref_out.abs().max()),
           "grad_max_rel_diff": max(float((grads[n] - g).norm() / g.norm().clamp_min(1e-12))
                                    for n, g in ref_grads.items()),
           "grads_compared": len(ref_grads), "world": dist.get_world_size()}
    rank = dist.get_rank()
    del m, step, out, grads, ref_out, ref_grads
    gc.collect()
    from torch.distributed.device_mesh import DeviceMesh

    res["meshes_alive_at_teardown"] = sum(type(o) is DeviceMesh for o in gc.get_objects())
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
