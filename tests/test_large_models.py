"""Large models (issue 28): Hugging Face causal LMs from a local directory, memory-bounded surfaces
(directions drawn per tensor from their seeds, the model moved in place and restored bitwise), and
finite-difference Hessian-vector products where fused attention has no double backward.

Every model here is built from a config and saved to a temporary directory: nothing is downloaded."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from landscape.core import directions, evaluate, inplace, seeded, surface
from landscape.core.causal_lm import causal_lm
from landscape.core.surface import weights_fingerprint



class _Transformers:
    """``transformers`` imported on first use: its tests skip where the extra is not installed, the
    others (seeded directions on plain models, the checkpoint command) run everywhere."""

    def __getattr__(self, name):
        if name.startswith("__"):  # pytest's collection looks for __test__ and the like
            raise AttributeError(name)
        return getattr(pytest.importorskip("transformers"), name)


transformers = _Transformers()

TEXT = " ".join(f"the quick brown fox {i} jumps over the lazy dog number {i * 7 % 13}." for i in range(120))


def tiny_gpt2(vocab=64, dtype=torch.float32, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=vocab, n_positions=32, n_embd=kw.pop("n_embd", 16),
                                  n_layer=kw.pop("n_layer", 2), n_head=2, **kw)
    return transformers.AutoModelForCausalLM.from_config(cfg).to(dtype).eval()


def tiny_llama(vocab=256, seed=0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.AutoModelForCausalLM.from_config(cfg).eval()


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text(TEXT)
    return path


def save_with_tokenizer(model_dir):
    """A tiny byte-level BPE tokenizer trained on TEXT (tokenizers, offline) and a GPT-2 sized to it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([TEXT], trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok)
    tiny_gpt2(vocab=len(fast)).save_pretrained(model_dir)
    fast.save_pretrained(model_dir)
    return fast


# --- the objective -----------------------------------------------------------------------------------

def test_causal_lm_is_huggingface_loss_and_counts_next_tokens():
    model = tiny_gpt2()
    ids = torch.randint(0, 64, (3, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        loss, n, correct = causal_lm(model, {"input_ids": ids})
        ref = model(input_ids=ids, labels=ids).loss  # transformers' own shifted mean
        logits = model(input_ids=ids).logits
    assert int(n) == 3 * 9  # T - 1 predictions per sequence
    assert float(loss) / int(n) == pytest.approx(float(ref), rel=1e-6)
    assert int(correct) == int((logits[:, :-1].argmax(-1) == ids[:, 1:]).sum())


def test_causal_lm_skips_padding_and_rejects_other_batches():
    model = tiny_gpt2()
    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.no_grad():
        _, n, _ = causal_lm(model, {"input_ids": ids, "attention_mask": mask})
    assert int(n) == 7 + 4  # row 1 predicts tokens 1..4 only
    with pytest.raises(ValueError, match="input_ids"):
        causal_lm(model, {"x": ids})
    assert evaluate.objective("causal_lm").has_accuracy


# --- seeded directions ---------------------------------------------------------------------------------

def test_seeded_directions_are_filter_normalized_and_reproducible():
    model = tiny_gpt2()
    d = directions.random(model, n=2, seed=3, store=False)
    assert seeded.is_seeded(d) and d.attrs["store"] is False
    weights = dict(model.named_parameters())
    for name in d.names:
        a, b = d[0][name], d[0][name]
        assert torch.equal(a, b)  # drawn again, bitwise the same
        w = weights[name].detach()
        assert torch.allclose(a.reshape(a.shape[0], -1).norm(dim=1), w.reshape(w.shape[0], -1).norm(dim=1), rtol=1e-5)
    assert not any(weights[n].dim() <= 1 for n in d.names)  # ignore="biasbn": 1-D tensors never move
    assert not torch.equal(d[0][d.names[0]], d[1][d.names[0]])
    assert not torch.equal(d[0][d.names[0]], directions.random(model, n=1, seed=4, store=False)[0][d.names[0]])
    with pytest.raises(ValueError, match="orthogonal"):
        directions.random(model, n=2, orthogonal=True, store=False)
    with pytest.raises(ValueError, match="norm"):
        directions.random(model, n=2, norm="weight", store=False)


def test_inplace_surface_matches_the_engine_and_restores_bitwise(tmp_path):
    model = tiny_llama()
    ids = torch.randint(0, 256, (4, 12), generator=torch.Generator().manual_seed(0))
    before = weights_fingerprint(model)
    d = directions.random(model, n=2, seed=1, store=False)
    low = surface.compute(model, d, x=(-1, 1, 3), y=(-1, 1, 3), data={"input_ids": ids}, loss="causal_lm",
                          path=str(tmp_path / "low.h5"), progress=False)
    assert weights_fingerprint(model) == before
    ref = surface.compute(model, d.materialize(), x=(-1, 1, 3), y=(-1, 1, 3), data={"input_ids": ids},
                          loss="causal_lm", progress=False)
    np.testing.assert_allclose(low.values["train_loss"], ref.values["train_loss"], rtol=1e-6)
    np.testing.assert_array_equal(low.values["train_acc"], ref.values["train_acc"])
    assert low.attrs["store"] is False and low.attrs["seeding"] == "per-tensor"
    assert low.directions is None  # nothing stored: the seed and the weights say what they were
    assert low.attrs["moved_numel"] == d.numel()
    # the centre is the model itself: the loss transformers computes
    with torch.no_grad():
        assert low.values["train_loss"][1, 1] == pytest.approx(float(model(input_ids=ids, labels=ids).loss), rel=1e-6)


def test_inplace_restores_after_an_interrupt():
    model = tiny_gpt2()
    before = weights_fingerprint(model)
    d = directions.random(model, n=2, seed=0, store=False)
    calls = []

    def interrupting(m, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return causal_lm(m, batch)

    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(0))
    with pytest.raises(KeyboardInterrupt):
        surface.compute(model, d, x=(-1, 1, 5), y=(-1, 1, 5), data=[{"input_ids": ids}],
                        loss=evaluate.Objective("interrupting", interrupting, True),
                        progress=False)
    assert len(calls) == 3
    assert weights_fingerprint(model) == before
    assert not model.training


def test_origin_on_disk_and_in_memory_give_back_the_same_bytes():
    model = tiny_gpt2(dtype=torch.bfloat16)
    d = directions.random(model, n=1, store=False)
    before = weights_fingerprint(model)
    for where in ("disk", "memory"):
        with inplace.guard(model, d, where=where) as origin:
            assert origin.where == where
            with torch.no_grad():
                for name in d.names:
                    origin.tensors[name].add_(1.0)
        assert weights_fingerprint(model) == before


# --- finite-difference Hessian-vector products ------------------------------------------------------------

def test_fd_hvp_matches_autograd_on_tiny_gpt2():
    """Fused attention (the CPU's flash kernel, which scaled_dot_product_attention picks by default) has
    no double backward: method="auto" says so and takes finite differences, which match autograd's
    product through the math kernel."""
    from landscape.analysis import hessian

    model = tiny_gpt2(dtype=torch.float64, n_embd=8, n_layer=1)
    data = [{"input_ids": torch.randint(0, 64, (4, 8), generator=torch.Generator().manual_seed(0))}]
    with hessian.operator(model, data, loss="causal_lm", method="autograd") as H:
        v = torch.randn(H.n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        exact = H.matvec(v)
    with hessian.operator(model, data, loss="causal_lm", method="auto") as H:
        assert H.method == "fd" and "double backward" in H.method_reason
        fd = H.matvec(v)
    assert float((fd - exact).norm() / exact.norm()) < 1e-4


def test_fd_lambda_max_within_one_percent_of_the_exact_hessian():
    from landscape.analysis import hessian, sharpness

    model = tiny_gpt2(vocab=16, dtype=torch.float64, n_embd=8, n_layer=1)
    data = [{"input_ids": torch.randint(0, 16, (4, 8), generator=torch.Generator().manual_seed(0))}]
    with hessian.operator(model, data, loss="causal_lm", method="autograd") as H:
        exact = float(torch.linalg.eigvalsh(H.dense())[-1])  # ~1,100 parameters: the whole matrix
    found = sharpness.hessian_eigs(model, data, k=1, loss="causal_lm", hvp="fd")
    assert found.values[0] == pytest.approx(exact, rel=1e-2)


def test_auto_keeps_autograd_where_double_backward_exists(xy_mlp=None):
    from landscape.analysis import hessian

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    X, Y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    with hessian.operator(net, (X, Y), method="auto") as H:
        assert H.method == "autograd"


# --- the command line -----------------------------------------------------------------------------------

def test_cli_hf_surface_then_plot(tmp_path, text_file):
    from landscape.cli import main
    from landscape.storage import io

    model_dir = tmp_path / "gpt2"
    save_with_tokenizer(model_dir)
    out, png = tmp_path / "lm.h5", tmp_path / "lm.png"
    runner = CliRunner()
    res = runner.invoke(main, ["surface", "--hf", str(model_dir), "--text", str(text_file), "--seq-len", "16",
                               "--x", "-1:1:3", "--y", "-1:1:3", "--out", str(out), "-q", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "the model's own tokenizer" in res.output and "perplexity" in res.output
    surf = io.load(out)
    assert surf.attrs["loss"] == "causal_lm" and surf.attrs["tokenizer"] != "bytes"
    assert surf.attrs["n_seqs"] == 8 and surf.attrs["seq_len"] == 16
    assert np.isfinite(surf.values["train_loss"]).all()
    res = runner.invoke(main, ["plot", str(out), "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.stat().st_size > 10_000


def test_cli_hf_without_tokenizer_uses_bytes_and_says_so(tmp_path, text_file):
    from landscape.cli import main
    from landscape.storage import io

    tiny_llama().save_pretrained(tmp_path / "llama")
    out = tmp_path / "ll.h5"
    res = CliRunner().invoke(main, ["surface", "--hf", str(tmp_path / "llama"), "--text", str(text_file),
                                    "--seq-len", "32", "--n-seqs", "4", "--x", "-1:1:3", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert "UTF-8 bytes" in res.output
    assert io.load(out).attrs["tokenizer"] == "bytes"


@pytest.mark.parametrize("args, message", [
    (["--text", "{text}"], "Missing CHECKPOINT"),
    (["--hf", "{dir}"], "needs --text"),
    (["--hf", "{tmp}/nope", "--text", "{text}"], "--hf"),
    (["--hf", "{dir}", "--text", "{text}", "--seq-len", "100000"], "--seq-len"),
    (["--hf", "{dir}", "--text", "{text}", "--dir", "pca"], "random"),
])
def test_cli_hf_bad_input_is_one_line_and_exit_2(tmp_path, text_file, args, message):
    from landscape.cli import main

    tiny_llama().save_pretrained(tmp_path / "llama")
    args = [a.format(text=text_file, dir=tmp_path / "llama", tmp=tmp_path) for a in args]
    res = CliRunner().invoke(main, ["surface", *args, "--out", str(tmp_path / "o.h5")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "o.h5").exists()


def test_without_the_extra_one_line_says_how_to_install(tmp_path, text_file):
    """A real subprocess where `import transformers` fails."""
    code = ("import sys; sys.modules['transformers'] = None\n"
            "from landscape.cli import main\n"
            f"main(['surface', '--hf', {str(tmp_path)!r}, '--text', {str(text_file)!r}, '--out', 'x.h5'])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'pip install -e ".[hf]"' in lines[0], res.stderr


# --- without transformers: any model, any checkpoint ----------------------------------------------------------

def test_store_false_on_a_plain_model_matches_the_engine(mlp, xy):
    before = weights_fingerprint(mlp)
    d = directions.random(mlp, n=2, seed=0, store=False)
    low = surface.compute(mlp, d, x=(-1, 1, 5), y=(-1, 1, 5), data=xy, progress=False)
    ref = surface.compute(mlp, d.materialize(), x=(-1, 1, 5), y=(-1, 1, 5), data=xy, progress=False)
    np.testing.assert_allclose(low.values["train_loss"], ref.values["train_loss"], rtol=1e-6)
    assert weights_fingerprint(mlp) == before
    with pytest.raises(ValueError, match="params="):
        surface.compute(mlp, d, x=(-1, 1, 3), y=(-1, 1, 3), data=xy, params=r"weight", progress=False)


def test_cli_low_memory_on_a_checkpoint(tmp_path):
    from landscape import models
    from landscape.cli import main
    from landscape.storage import checkpoint, io

    model = models.create("mlp", seed=0, depth=2, width=0.25, in_shape=(1, 8, 8), num_classes=10)
    checkpoint.save(tmp_path / "m.pt", model, spec=models.spec(model), data={"dataset": "digits", "normalize": True})
    runner = CliRunner()
    common = ["surface", str(tmp_path / "m.pt"), "--x", "-1:1:3", "--y", "-1:1:3", "--split", "train",
              "--n-samples", "200", "-q"]
    res = runner.invoke(main, [*common, "--low-memory", "--out", str(tmp_path / "low.h5")])
    assert res.exit_code == 0, res.output
    res2 = runner.invoke(main, [*common, "--out", str(tmp_path / "stored.h5")])
    assert res2.exit_code == 0, res2.output
    low, stored = io.load(tmp_path / "low.h5"), io.load(tmp_path / "stored.h5")
    assert low.attrs["store"] is False and low.directions is None and stored.directions is not None
    assert low.values["train_loss"][1, 1] == pytest.approx(stored.values["train_loss"][1, 1], rel=1e-6)
    res = runner.invoke(main, [*common, "--low-memory", "--dir", "target", "--target", str(tmp_path / "m.pt"),
                               "--out", str(tmp_path / "t.h5")])
    assert res.exit_code == 2 and "--low-memory" in res.output


def test_text_sequences_are_seeded_windows_of_the_text(tmp_path):
    from landscape.storage import hfdir

    path = tmp_path / "t.txt"
    path.write_text(TEXT)
    a = hfdir.text_sequences(path, seq_len=16, n=5, seed=0)
    b = hfdir.text_sequences(path, seq_len=16, n=5, seed=0)
    c = hfdir.text_sequences(path, seq_len=16, n=5, seed=1)
    assert a.ids.shape == (5, 16) and a.tokenizer == "bytes" and torch.equal(a.ids, b.ids)
    assert not torch.equal(a.ids, c.ids)
    raw = path.read_bytes()
    for row in a.ids:  # every sequence is a window of the text at a multiple of seq_len
        chunk = bytes(row.tolist())
        assert any(raw[k * 16:(k + 1) * 16] == chunk for k in range(len(raw) // 16))
    with pytest.raises(ValueError, match="--n-seqs"):
        hfdir.text_sequences(path, seq_len=16, n=10_000)
    with pytest.raises(ValueError, match="256"):
        hfdir.text_sequences(path, seq_len=16, n=2, vocab_size=100)
