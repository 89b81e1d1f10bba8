"""doctor: the risks that remain for given flags on a real SGLang release, and what removes them."""

import json

import pytest

from sglang_releases import unpack
from sglang_spec_patches import doctor, engine, runtime

ON = runtime.Settings("on", frozenset(), None)
REACHES = {"reaches_workers": True, "why": ".pth installed", "plugin": False}
EAGLE = ["--speculative-algorithm", "EAGLE", "--speculative-num-steps", "3",
         "--speculative-num-draft-tokens", "4"]


def run(release, argv, settings=ON, activation=REACHES):
    plan = engine.plan(engine.SourceTree(unpack(release)), disabled=settings.disabled)
    return doctor.diagnose(doctor.parse_flags(argv), plan, settings, activation)


def risky(findings):
    return {f.fix for f in findings if f.risk}


def test_slime_style_flags_are_read():
    flags = doctor.parse_flags(["--sglang-attention-backend", "flashinfer", "--sglang-cuda-graph-bs", "1", "2", "4",
                                "--sglang-speculative-eagle-topk", "4", "--rollout-batch-size", "32"])
    assert flags["attention_backend"] == "flashinfer"
    assert flags["cuda_graph_bs"] == [1, 2, 4]
    assert flags["speculative_eagle_topk"] == 4


def test_affected_release_with_the_shim_has_no_risk_left():
    findings = run("0.5.2", EAGLE + ["--attention-backend", "flashinfer", "--cuda-graph-bs", "1", "2", "4", "8",
                                     "--speculative-eagle-topk", "4"])
    assert risky(findings) == set()


def test_shim_off_leaves_every_padding_risk_named_with_its_fix():
    findings = run("0.5.2", EAGLE + ["--attention-backend", "flashinfer", "--cuda-graph-bs", "1", "2", "4", "8",
                                     "--speculative-eagle-topk", "4"],
                   settings=runtime.Settings("off", frozenset(), None))
    assert risky(findings) == {"draft-padding-positions", "verify-mask-padding", "draft-padding-buffers",
                               "draft-kv-indices-topk", "draft-seq-lens-sum"}
    assert all("SGLANG_SPEC_PATCHES=off" in f.remedy for f in findings if f.risk)


def test_disabled_fix_is_a_risk_and_says_how_to_enable_it():
    settings = runtime.Settings("on", frozenset({"draft-kv-indices-topk"}), None)
    findings = run("0.5.9", EAGLE + ["--attention-backend", "flashinfer", "--speculative-eagle-topk", "4"], settings)
    (f,) = [f for f in findings if f.risk]
    assert f.fix == "draft-kv-indices-topk" and "SGLANG_SPEC_PATCHES_DISABLE" in f.remedy


def test_fixed_release_needs_nothing():
    findings = run("0.5.14", EAGLE + ["--attention-backend", "flashinfer", "--speculative-eagle-topk", "4",
                                      "--cuda-graph-bs", "1", "2", "4"], settings=runtime.Settings("off", frozenset(), None))
    assert risky(findings) == set()


def test_shorter_draft_context_is_found(tmp_path):
    draft = tmp_path / "draft"
    draft.mkdir()
    (draft / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    argv = EAGLE + ["--speculative-draft-model-path", str(draft), "--context-length", "8192",
                    "--attention-backend", "fa3"]
    assert "draft-context-length" in risky(run("0.5.2", argv, settings=runtime.Settings("off", frozenset(), None)))
    assert "draft-context-length" not in risky(run("0.5.2", argv))


def stretch_refused_notes(release, tmp_path, settings=ON):
    draft = tmp_path / "draft"
    draft.mkdir(exist_ok=True)
    (draft / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    argv = EAGLE + ["--speculative-draft-model-path", str(draft), "--context-length", "8192",
                    "--attention-backend", "fa3"]
    return [f for f in run(release, argv, settings=settings)
            if f.fix == "draft-context-length" and "start-up will stop" in f.message]


@pytest.mark.parametrize("release", ["0.5.2", "0.5.13"])  # family 0.5.1; carries the upstream fix
def test_shorter_draft_that_the_release_refuses_says_why_and_what_to_set(tmp_path, monkeypatch, release):
    monkeypatch.delenv("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", raising=False)
    (note,) = stretch_refused_notes(release, tmp_path)
    assert not note.risk and "2048" in note.message and "8192" in note.message, note
    assert "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1" in note.remedy, note
    monkeypatch.setenv("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", "1")
    assert stretch_refused_notes(release, tmp_path) == []


def test_shorter_draft_starts_on_releases_that_allowed_it_unless_strict_or_false(tmp_path, monkeypatch):
    # 0.4.10 ... 0.5.0rc2: the release's default (true) stays with the fix applied.
    monkeypatch.delenv("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", raising=False)
    assert stretch_refused_notes("0.4.10", tmp_path) == []
    (strict,) = stretch_refused_notes("0.4.10", tmp_path, settings=runtime.Settings("strict", frozenset(), None))
    assert "SGLANG_SPEC_PATCHES=strict" in strict.message, strict
    monkeypatch.setenv("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", "false")
    (false,) = stretch_refused_notes("0.4.10", tmp_path)
    assert "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=false" in false.message, false


def test_hook_that_cannot_reach_the_schedulers_is_a_risk():
    activation = doctor.activation_state(engine.SourceTree(unpack("0.5.2")), pth_dirs=[])
    findings = run("0.5.2", EAGLE + ["--attention-backend", "flashinfer"], activation=activation)
    assert "draft-padding-positions" in risky(findings)
    assert any(f.risk and f.fix is None and "spawned schedulers" in f.message for f in findings)


@pytest.mark.parametrize("release, plugin", [("0.5.9", False), ("0.5.12.post1", True)])
def test_plugin_support_is_read_from_the_source(release, plugin):
    assert doctor.activation_state(engine.SourceTree(unpack(release)), pth_dirs=[])["reaches_workers"] is plugin


def test_no_speculative_decoding_no_risk():
    assert risky(run("0.5.2", ["--attention-backend", "flashinfer"], settings=runtime.Settings("off", frozenset(), None))) == set()


NGRAM = ["--speculative-algorithm", "NGRAM", "--speculative-num-draft-tokens", "8", "--attention-backend", "flashinfer"]
OFF = runtime.Settings("off", frozenset(), None)


@pytest.mark.parametrize("padding", [["--cuda-graph-bs", "1", "2", "4", "8"], [], ["--enable-dp-attention"]])
def test_ngram_verify_padding_is_a_risk_until_the_fix_applies(padding):
    findings = run("0.5.13", NGRAM + padding, settings=OFF)
    (f,) = [f for f in findings if f.fix == "ngram-verify-mask"]
    assert f.risk and "#24361" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "ngram-verify-mask" not in risky(run("0.5.13", NGRAM + padding))  # shim on


def test_ngram_is_not_told_about_the_eagle_draft_and_verify_risks():
    # 0.5.6.post2: the EAGLE fixes and ngram-verify-mask all apply; n-gram runs only its own path.
    argv = NGRAM + ["--cuda-graph-bs", "1", "2", "4", "8", "--speculative-eagle-topk", "4"]
    assert risky(run("0.5.6.post2", argv, settings=OFF)) == {"ngram-verify-mask"}
    eagle = ["--speculative-algorithm", "EAGLE"] + argv[2:]
    assert {"verify-mask-padding", "draft-padding-buffers", "draft-kv-indices-topk"} <= risky(run("0.5.6.post2", eagle, settings=OFF))


@pytest.mark.parametrize("release, argv", [
    ("0.5.14", NGRAM),  # pads the mask itself
    ("0.5.13", NGRAM + ["--cuda-graph-bs", "1", "2", "3", "4"]),  # every size captured: no verify padding
    ("0.5.13", NGRAM + ["--disable-cuda-graph-padding"]),
    ("0.5.13", NGRAM + ["--disable-cuda-graph"]),
    ("0.5.13", ["--speculative-algorithm", "NGRAM", "--attention-backend", "fa3"]),
    ("0.5.13", EAGLE + ["--attention-backend", "flashinfer"]),  # the n-gram path is not used
])
def test_ngram_verify_mask_is_no_risk_where_it_cannot_trigger(release, argv):
    assert "ngram-verify-mask" not in risky(run(release, argv, settings=OFF))


PADDED_EAGLE = EAGLE + ["--cuda-graph-bs", "1", "2", "4", "8"]


@pytest.mark.parametrize("backend", ["flashinfer", "triton", "aiter"])
def test_draft_seq_lens_sum_is_a_risk_until_the_fix_applies(backend):
    findings = run("0.5.13.post1", PADDED_EAGLE + ["--attention-backend", backend], settings=OFF)
    (f,) = [f for f in findings if f.fix == "draft-seq-lens-sum"]
    assert f.risk and "PR #26880" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "draft-seq-lens-sum" not in risky(run("0.5.13.post1", PADDED_EAGLE + ["--attention-backend", backend]))


@pytest.mark.parametrize("release, argv", [
    ("0.5.14", PADDED_EAGLE + ["--attention-backend", "flashinfer"]),  # sets the padded sum itself
    ("0.5.13.post1", EAGLE + ["--cuda-graph-bs", "1", "2", "3", "4"]),  # every size captured: no draft padding
    ("0.5.13.post1", PADDED_EAGLE + ["--disable-cuda-graph"]),
    ("0.5.13.post1", PADDED_EAGLE + ["--attention-backend", "fa3"]),  # does not slice by seq_lens_sum
    ("0.5.13.post1", NGRAM + ["--cuda-graph-bs", "1", "2", "4", "8"]),  # no draft runner
])
def test_draft_seq_lens_sum_is_no_risk_where_it_cannot_trigger(release, argv):
    assert "draft-seq-lens-sum" not in risky(run(release, argv, settings=OFF))


TBO_EAGLE = EAGLE + ["--enable-two-batch-overlap", "--max-running-requests", "5"]


@pytest.mark.parametrize("argv", [TBO_EAGLE + ["--attention-backend", "flashinfer"],
                                  EAGLE + ["--enable-dp-attention"],
                                  TBO_EAGLE + ["--attention-backend", "fa3",
                                               "--speculative-draft-attention-backend", "flashinfer"]])
def test_draft_graph_above_the_pool_is_a_risk_until_the_fix_applies(argv):
    findings = run("0.5.13", argv, settings=OFF)
    (f,) = [f for f in findings if f.fix == "draft-kv-indptr-capture-bs"]
    assert f.risk and "kv_indptr" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "draft-kv-indptr-capture-bs" not in risky(run("0.5.13", argv))  # shim on


@pytest.mark.parametrize("release", ["0.5.15.post1", "0.5.23"])
def test_upstream_sizing_is_a_risk_for_topk_above_one(release):
    """From 0.5.14 upstream rounds pool * topk up: right for topk 1, short for topk > 1."""
    argv = TBO_EAGLE + ["--speculative-eagle-topk", "4", "--attention-backend", "flashinfer"]
    (f,) = [f for f in run(release, argv, settings=OFF) if f.fix == "draft-kv-indptr-capture-bs"]
    assert f.risk and "pool * topk rounded up (--speculative-eagle-topk 4)" in f.message, f
    assert "draft-kv-indptr-capture-bs" not in risky(run(release, argv))  # shim on


@pytest.mark.parametrize("release, argv", [
    ("0.5.14", TBO_EAGLE),  # topk 1: rounding pool * topk is rounding the pool
    ("0.5.13", EAGLE + ["--enable-two-batch-overlap", "--max-running-requests", "6"]),  # already aligned
    ("0.5.13", TBO_EAGLE + ["--attention-backend", "fa3"]),
    ("0.5.13", TBO_EAGLE + ["--disable-cuda-graph"]),
    ("0.5.13", EAGLE + ["--attention-backend", "flashinfer"]),  # no alignment: captures stay within the pool
])
def test_draft_graph_above_the_pool_is_no_risk_where_it_cannot_trigger(release, argv):
    assert "draft-kv-indptr-capture-bs" not in risky(run(release, argv, settings=OFF))


def model_dir(tmp_path, name, **config):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_mla_draft_graph_above_the_pool_is_a_risk_until_the_fix_applies(tmp_path):
    deepseek = model_dir(tmp_path, "deepseek", architectures=["DeepseekV3ForCausalLM"], kv_lora_rank=512)
    argv = TBO_EAGLE + ["--attention-backend", "flashinfer", "--model-path", deepseek]  # MTP: no draft path
    findings = run("0.5.15.post1", argv, settings=OFF)
    (f,) = [f for f in findings if f.fix == "draft-mla-kv-indptr-capture-bs"]
    assert f.risk and "FlashInfer MLA draft kv_indptr" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "draft-kv-indptr-capture-bs" not in {f.fix for f in findings}  # an MLA draft never runs it
    assert "draft-mla-kv-indptr-capture-bs" not in risky(run("0.5.15.post1", argv))  # shim on
    assert "draft-mla-kv-indptr-capture-bs" not in risky(run("0.5.20", argv, settings=OFF))  # fixed upstream


def test_draft_model_config_decides_which_flashinfer_draft_backend_is_at_risk(tmp_path):
    llama = model_dir(tmp_path, "llama", architectures=["LlamaForCausalLM"])
    deepseek = model_dir(tmp_path, "deepseek", architectures=["DeepseekV3ForCausalLM"], kv_lora_rank=512)
    both = {"draft-kv-indptr-capture-bs", "draft-mla-kv-indptr-capture-bs"}
    eagle3 = TBO_EAGLE + ["--model-path", deepseek, "--speculative-draft-model-path", llama]
    assert risky(run("0.5.13", eagle3, settings=OFF)) & both == {"draft-kv-indptr-capture-bs"}
    assert risky(run("0.5.13", TBO_EAGLE, settings=OFF)) & both == both  # no config to read: either


@pytest.mark.parametrize("release, argv", [
    ("0.5.13", EAGLE + ["--enable-two-batch-overlap", "--max-running-requests", "6"]),  # already aligned
    ("0.5.13", TBO_EAGLE + ["--attention-backend", "fa3"]),
    ("0.5.13", TBO_EAGLE + ["--disable-cuda-graph"]),
    ("0.5.9", TBO_EAGLE),  # the capture list stops at the pool
])
def test_mla_draft_graph_above_the_pool_is_no_risk_where_it_cannot_trigger(release, argv):
    assert "draft-mla-kv-indptr-capture-bs" not in risky(run(release, argv, settings=OFF))


def test_fa3_sliding_window_draft_is_a_risk_until_the_fix_applies(tmp_path):
    gpt_oss = model_dir(tmp_path, "gpt-oss", architectures=["GptOssForCausalLM"],
                        layer_types=["sliding_attention", "full_attention"])
    llama = model_dir(tmp_path, "llama", architectures=["LlamaForCausalLM"])
    argv = EAGLE + ["--attention-backend", "fa3", "--model-path", gpt_oss, "--speculative-draft-model-path", gpt_oss]
    (f,) = [f for f in run("0.5.15.post1", argv, settings=OFF) if f.fix == "fa3-swa-draft-step-loc"]
    assert f.risk and "FA3 draft with a sliding-window KV pool" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "fa3-swa-draft-step-loc" not in risky(run("0.5.15.post1", argv))  # shim on: the fix applies
    assert "fa3-swa-draft-step-loc" not in risky(run("0.5.21", argv, settings=OFF))  # fixed upstream
    full = argv[:-1] + [llama]  # a full-attention draft has no sliding-window pool
    assert "fa3-swa-draft-step-loc" not in risky(run("0.5.15.post1", full, settings=OFF))
    one_step = [a if a != "3" else "1" for a in argv]
    assert "fa3-swa-draft-step-loc" not in risky(run("0.5.15.post1", one_step, settings=OFF))


@pytest.mark.parametrize("release", ["0.5.14", "0.5.15.post1", "0.5.19"])
@pytest.mark.parametrize("flag", ["--disable-cuda-graph-padding", "--sglang-disable-cuda-graph-padding"])
def test_padding_disabled_on_shape_key_releases_runs_every_batch_eagerly_until_the_fix_applies(release, flag):
    (f,) = [f for f in run(release, EAGLE + [flag], settings=OFF) if f.fix == "disable-padding-graph-key"]
    assert f.risk and "every batch runs eagerly" in f.message and "slowdown" in f.message
    assert "disable-padding-graph-key: applies" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "disable-padding-graph-key" not in risky(run(release, EAGLE + [flag]))  # shim on
    settings = runtime.Settings("on", frozenset({"disable-padding-graph-key"}), None)
    (f,) = [f for f in run(release, EAGLE + [flag], settings) if f.fix == "disable-padding-graph-key"]
    assert f.risk and "SGLANG_SPEC_PATCHES_DISABLE" in f.remedy


@pytest.mark.parametrize("release, argv", [
    ("0.5.13.post1", EAGLE + ["--disable-cuda-graph-padding"]),  # no ShapeKey: runners look up what they store
    ("0.5.16", EAGLE + ["--disable-cuda-graph-padding"]),  # looks graphs up by ShapeKey itself
    ("0.5.20", EAGLE + ["--disable-cuda-graph-padding"]),  # and with the DSA variant
    ("0.5.15.post1", EAGLE),  # padding on: the lookup is never asked
    ("0.5.15.post1", EAGLE + ["--disable-cuda-graph-padding", "--disable-cuda-graph"]),
])
def test_padding_disabled_is_no_eager_risk_where_it_cannot_trigger(release, argv):
    assert "disable-padding-graph-key" not in risky(run(release, argv, settings=OFF))


def test_linear_attention_verify_padding_is_a_risk_until_the_fix_applies(tmp_path):
    qwen3_next = model_dir(tmp_path, "qwen3next", architectures=["Qwen3NextForCausalLM"], linear_conv_kernel_dim=4)
    llama = model_dir(tmp_path, "llama", architectures=["LlamaForCausalLM"])
    argv = EAGLE + ["--attention-backend", "fa3", "--model-path", qwen3_next]
    (f,) = [f for f in run("0.5.13", argv, settings=OFF) if f.fix == "linear-attn-verify-padding"]
    assert f.risk and "one-token prompt" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "linear-attn-verify-padding" not in risky(run("0.5.13", argv))  # shim on
    assert "linear-attn-verify-padding" not in risky(run("0.5.14", argv, settings=OFF))  # fixed upstream
    assert "linear-attn-verify-padding" not in risky(run("0.5.13", argv + ["--disable-cuda-graph"], settings=OFF))
    llama_argv = EAGLE + ["--attention-backend", "fa3", "--model-path", llama]
    assert "linear-attn-verify-padding" not in risky(run("0.5.13", llama_argv, settings=OFF))


@pytest.mark.parametrize("release", ["0.5.15.post1", "0.5.23"])
@pytest.mark.parametrize("argv", [TBO_EAGLE + ["--attention-backend", "triton"],
                                  TBO_EAGLE + ["--attention-backend", "fa3",
                                               "--speculative-draft-attention-backend", "triton"],
                                  EAGLE + ["--attention-backend", "triton", "--enable-dp-attention"]])
def test_triton_draft_graph_above_the_pool_is_a_risk_until_the_fix_applies(release, argv):
    findings = run(release, argv, settings=OFF)
    (f,) = [f for f in findings if f.fix == "draft-triton-kv-indptr-capture-bs"]
    assert f.risk and "Triton draft kv_indptr" in f.message and "SGLANG_SPEC_PATCHES=off" in f.remedy
    assert "draft-triton-kv-indptr-capture-bs" not in risky(run(release, argv))  # shim on


@pytest.mark.parametrize("release, argv", [
    ("0.5.9", TBO_EAGLE + ["--attention-backend", "triton"]),  # the capture list stops at the pool
    ("0.5.23", EAGLE + ["--enable-two-batch-overlap", "--max-running-requests", "6", "--attention-backend", "triton"]),
    ("0.5.23", TBO_EAGLE + ["--attention-backend", "triton", "--disable-cuda-graph"]),
    ("0.5.23", TBO_EAGLE + ["--attention-backend", "flashinfer"]),
    ("0.5.23", EAGLE + ["--attention-backend", "triton"]),  # no alignment: captures stay within the pool
])
def test_triton_draft_graph_above_the_pool_is_no_risk_where_it_cannot_trigger(release, argv):
    assert "draft-triton-kv-indptr-capture-bs" not in risky(run(release, argv, settings=OFF))


def test_aiter_draft_graph_above_the_pool_is_named_without_a_fix():
    findings = run("0.5.23", TBO_EAGLE + ["--attention-backend", "aiter"])
    (f,) = [f for f in findings if "aiter draft kv_indptr" in f.message]
    assert f.risk and f.fix is None and "--max-running-requests" in f.remedy
