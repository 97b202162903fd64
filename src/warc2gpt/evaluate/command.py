"""`warc2gpt evaluate` (the stage) and `warc2gpt generate` (sampling from a model)."""

from __future__ import annotations

import argparse
import sys
import time

from warc2gpt.cli import add_params_options, option, stage_command
from warc2gpt.config import load_params, to_dict

EVALUATE_DOC = """`warc2gpt evaluate`: val loss, bits-per-byte, HellaSwag/LAMBADA, samples and a report.

Evaluate the trained model: val loss and bits-per-byte on the val shards, HellaSwag and LAMBADA
when their files are set, fixed-prompt samples; writes metrics/eval.json and reports/.
"""
register_evaluate = stage_command(
    "evaluate",
    EVALUATE_DOC,
    [
        option("--model-dir", "model_dir", help="exported model (default: evaluate.model_dir)"),
        option("--device", "device", help="auto, cpu, cuda, cuda:N or mps"),
    ],
)


def register(sub: argparse._SubParsersAction) -> None:
    register_evaluate(sub)

    gen = sub.add_parser(
        "generate",
        help="continue a prompt with a trained or registered model",
        description="Sample a continuation of --prompt. Defaults come from "
        "evaluate.generation in params.",
    )
    add_params_options(gen)
    gen.add_argument("--prompt", required=True)
    gen.add_argument(
        "--model",
        help="models:/NAME@ALIAS, runs:/..., a model directory or a "
        "checkpoint file (default: evaluate.model_dir)",
    )
    gen.add_argument(
        "--tokenizer",
        help="tokenizer directory for a model directory or "
        "checkpoint (default: evaluate.tokenizer_dir)",
    )
    gen.add_argument("--max-tokens", type=int, dest="max_new_tokens")
    gen.add_argument("--temperature", type=float, help="0 is greedy")
    gen.add_argument("--top-k", type=int, dest="top_k", help="0 keeps every token")
    gen.add_argument("--top-p", type=float, dest="top_p")
    gen.add_argument("--seed", type=int)
    gen.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    gen.add_argument(
        "--no-cache",
        action="store_true",
        help="recompute the whole window per token (slow; for comparison)",
    )
    gen.add_argument("--no-stream", action="store_true", help="print the text once at the end")
    gen.set_defaults(func=run_generate)


# The sampling settings `warc2gpt generate` takes as options, by their option.
GENERATION_FLAGS = {
    "max_new_tokens": "--max-tokens",
    "temperature": "--temperature",
    "top_k": "--top-k",
    "top_p": "--top-p",
}


def run_generate(args: argparse.Namespace) -> int:
    from warc2gpt.model.device import resolve_device
    from warc2gpt.model.generate import TextStream, check_sampling, generate_tokens
    from warc2gpt.model.store import load_model_and_tokenizer
    from warc2gpt.tracking import tracking_uri

    params = load_params(args.params, args.overrides)
    settings = params.evaluate
    g = to_dict(settings.generation)
    for key in g:
        if getattr(args, key, None) is not None:
            g[key] = getattr(args, key)
    names = {
        key: flag if getattr(args, key) is not None else f"evaluate.generation.{key}"
        for key, flag in GENERATION_FLAGS.items()
    }
    try:
        check_sampling(g["max_new_tokens"], g["temperature"], g["top_k"], g["top_p"], names)
    except ValueError as exc:
        print(f"warc2gpt generate: {exc}", file=sys.stderr)
        return 2
    where = "--device" if args.device else "evaluate.device"
    device = resolve_device(args.device or settings.device, setting=where)
    model, tokenizer = load_model_and_tokenizer(
        args.model or settings.model_dir,
        args.tokenizer or settings.tokenizer_dir,
        device,
        tracking_uri(params.tracking),
    )
    prompt = tokenizer.encode(args.prompt)
    if not prompt:
        print("warc2gpt generate: --prompt encodes to no tokens; give some text", file=sys.stderr)
        return 2
    # The model reads at most its window, with room for the token it predicts; a longer
    # prompt is continued from its end, as generation itself slides once the window is full.
    window = model.config.sequence_len
    if len(prompt) >= window:
        print(
            f"warc2gpt generate: the prompt is {len(prompt)} tokens and the model reads "
            f"{window} (its sequence_len): continuing from the prompt's last {window - 1} tokens",
            file=sys.stderr,
        )
        prompt = prompt[-(window - 1) :]
    started = time.perf_counter()
    stream, count = TextStream(tokenizer), 0
    if not args.no_stream:
        print(args.prompt, end="", flush=True)
    tokens = generate_tokens(
        model,
        prompt,
        g["max_new_tokens"],
        g["temperature"],
        g["top_k"],
        g["top_p"],
        g["seed"],
        use_cache=not args.no_cache,
        stop_ids=(tokenizer.eot_id,),
    )
    for token in tokens:
        if token == tokenizer.eot_id:
            break
        count += 1
        piece = stream.push(token)
        if not args.no_stream:
            print(piece, end="", flush=True)
    rest = stream.flush()
    seconds = time.perf_counter() - started
    print(rest if not args.no_stream else args.prompt + tokenizer.decode(stream.ids))
    print(f"[{count} tokens in {seconds:.2f}s, {count / seconds:.1f} tokens/s]", file=sys.stderr)
    return 0
