"""String-in SavedModels served by a process with only TensorFlow and tensorflow-text.

The models are exported once per module (on the backend the tests run on) and
loaded in ONE fresh subprocess in which `keras`, `keras_bert_impl` and `jax`
cannot be imported; its outputs are compared with the Keras models'.
"""

import importlib
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_bert_impl.data.conll import CONLL2003_NER_LABELS
from keras_bert_impl.data.ner_featurizer import NerFeaturizer
from keras_bert_impl.data.squad import SquadExample
from keras_bert_impl.data.squad_featurizer import SquadFeaturizer
from keras_bert_impl.export import export_saved_model
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertQuestionAnswerer
from keras_bert_impl.models import BertTokenClassifier
from keras_bert_impl.recipes.export_from_run import export_from_run
from keras_bert_impl.recipes.export_from_run import find_preset_dir
from keras_bert_impl.tokenizers import BertPreprocessor
from keras_bert_impl.tokenizers import BertTokenizer
from keras_bert_impl.utils.preset_files import CONFIG_FILE
from keras_bert_impl.utils.preset_files import METADATA_FILE
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from tests.bert_test_case import tiny_backbone

SEQUENCE_LENGTH = 16
LABELS = ["negative", "neutral", "positive"]
TEXTS = [
    "a great movie",
    "",
    "the dull movie was bad " * 12,  # longer than the sequence
    "Héllo, WÖRLD! naïve café; 東京 ok",
    "   ",
]
# Texts of several windows (14 pieces each, 5 apart) among the short ones.
LONG_STRIDE = 5
LONG_TEXTS = TEXTS + ["a great movie , but the dull fox was bad " * 8, "it was ok " * 6]
PAIRS = (
    ["a great movie", "", "what is it ?", "fox " * 30],
    ["it was good", "just the second", "", "dog " * 30],
)
NER_TEXTS = [
    "John lives in New York .",
    "",
    "EU rejects German call to boycott British lamb " * 3,  # cut by the length
    "Zürich , naïve !",
]
# Question answering: short windows, so that contexts span several.
QA_SEQUENCE_LENGTH = 32
QA_DOC_STRIDE = 8
QA_MAX_QUERY_LENGTH = 6
QUESTIONS = [
    "who is he ?",
    "where is the quick brown fox going this time ?",  # cut to 6 pieces
    "",
    "what ?",
    "who ?",
    "which city ?",
    "what ?",
]
CONTEXTS = [
    "He is Bob , the builder .",  # one window
    "a long story about a quick fox and a lazy dog . " * 5,  # several windows
    "no question here",
    "",  # no context: no answer
    "fox dog cat " * 30,  # many windows of repeated pieces
    "Zürich ist schön, naïve café; 東京 is big. " * 6,  # character offsets
    "   ",
]

# Runs in a fresh interpreter: keras, keras_bert_impl and jax are made
# unimportable before TensorFlow loads. tensorflow_text's own Keras layers
# (tensorflow_text.python.keras, which imports tf.keras) are stubbed out:
# serving needs only its ops, which `import tensorflow_text` registers.
_SERVE_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import types

    for name in ("keras", "keras_bert_impl", "jax", "tf_keras"):
        sys.modules[name] = None
    import tensorflow as tf

    sys.modules["tensorflow_text.python.keras"] = types.ModuleType("stub")
    import tensorflow_text  # noqa: F401

    jobs = json.loads(sys.stdin.read())
    results, models = {}, {}
    for key, (path, signature, inputs) in jobs.items():
        if path not in models:
            models[path] = tf.saved_model.load(path)
        function = models[path].signatures[signature]
        tensors = {}
        for name, value in inputs.items():
            dtype = tf.string if name not in ("token_ids", "segment_ids",
                "padding_mask") else tf.int32
            tensors[name] = tf.constant(value, dtype)
        try:
            outputs = function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            results[key] = {"error": error.message}
            continue
        results[key] = {
            name: (
                [v.decode("utf-8") for v in value.numpy().ravel()]
                if value.dtype == tf.string
                else value.numpy().tolist()
            )
            for name, value in outputs.items()
        }
    loaded = sorted(
        name for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in
        ("keras", "keras_bert_impl", "jax", "jaxlib", "tf_keras")
    )
    results["_loaded_modules"] = loaded
    print("RESULTS" + json.dumps(results))
    """
)


def _start_server():
    """A TF-only subprocess; it imports TensorFlow while the models are built."""
    return subprocess.Popen(
        [sys.executable, "-c", _SERVE_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


def _serve(server, jobs):
    """Runs `jobs` ({key: (path, signature, inputs)}) in the server; its results."""
    stdout, stderr = server.communicate(json.dumps(jobs), timeout=300)
    assert server.returncode == 0, stderr[-4000:]
    line = next(line for line in stdout.splitlines() if line.startswith("RESULTS"))
    return json.loads(line[len("RESULTS") :])


def _numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _call(model, inputs):
    """The model's inference outputs as NumPy (a direct call: no compiled predict)."""
    return keras.tree.map_structure(_numpy, model(inputs, training=False))


def _softmax(logits):
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def _backbone(vocabulary_size):
    return tiny_backbone(
        vocabulary_size=vocabulary_size,
        num_layers=2,
        max_sequence_length=32,
        initializer_range=0.5,  # clear argmax margins for the tag/span checks
    )


@pytest.fixture(scope="module")
def served(shared_data, tmp_path_factory):
    """Exports every kind of model, serves them once; returns all results."""
    server = _start_server()
    try:
        yield _export_and_serve(server, shared_data, tmp_path_factory)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def _export_and_serve(server, shared_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    tokenizer = BertTokenizer(str(shared_data / "vocab" / "uncased" / "vocab.txt"))
    preprocessor = BertPreprocessor(tokenizer, sequence_length=SEQUENCE_LENGTH)
    vocabulary_size = tokenizer.vocabulary_size()
    keras.utils.set_random_seed(7)

    # A classifier fine-tuned for a few steps.
    classifier = BertClassifier(
        _backbone(vocabulary_size), num_classes=3, preprocessor=preprocessor
    )
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
    train_texts = ["a great movie", "a dull movie", "it was ok", "bad"] * 4
    classifier.fit(train_texts, np.array([2, 0, 1, 0] * 4), batch_size=4, verbose=0)
    export_saved_model(classifier, root / "classifier", label_names=LABELS)
    # The same classifier through `keras-bert export`: a run directory with
    # the fine-tuned preset, whose metadata says "sentence pairs".
    classifier.save_to_preset(root / "run" / RUN_MODEL_DIR)
    (root / "run" / RUN_MODEL_DIR / METADATA_FILE).write_text(
        json.dumps({"label_names": LABELS, "text_pair": True})
    )
    run_result = export_from_run(root / "run", root / "pair_classifier")

    regressor = BertClassifier(_backbone(vocabulary_size), num_classes=1)
    export_saved_model(regressor, root / "regressor", preprocessor)
    backbone = _backbone(vocabulary_size)
    export_saved_model(backbone, root / "backbone", preprocessor)
    tagger = BertTokenClassifier(
        _backbone(vocabulary_size), num_classes=len(CONLL2003_NER_LABELS)
    )
    export_saved_model(
        tagger, root / "tagger", preprocessor, label_names=CONLL2003_NER_LABELS
    )
    answerer = BertQuestionAnswerer(_backbone(vocabulary_size))
    qa_preprocessor = BertPreprocessor(tokenizer, sequence_length=QA_SEQUENCE_LENGTH)
    qa_options = {
        "doc_stride": QA_DOC_STRIDE,
        "max_query_length": QA_MAX_QUERY_LENGTH,
    }
    export_saved_model(answerer, root / "answerer", qa_preprocessor, **qa_options)
    # SQuAD v2.0: a threshold amid the reference's null odds, so that some
    # questions get no answer and some an answer.
    null_odds = sorted(
        value
        for value in _squad_reference(tokenizer, answerer, 0.0)["null_odds"].values()
        if np.isfinite(value)
    )
    middle = len(null_odds) // 2
    threshold = (null_odds[middle - 1] + null_odds[middle]) / 2
    export_saved_model(
        answerer,
        root / "answerer_v2",
        qa_preprocessor,
        null_score_diff_threshold=threshold,
        **qa_options,
    )

    # Long texts read in windows (built last: the models above keep their seeds).
    # The classifier, its windows combined by their maximum.
    long_classifier = BertClassifier(
        classifier.backbone,
        num_classes=3,
        preprocessor=BertPreprocessor(tokenizer, SEQUENCE_LENGTH, stride=LONG_STRIDE),
        window_aggregation="max",
    )
    long_classifier.output_dense.set_weights(classifier.output_dense.get_weights())
    export_saved_model(long_classifier, root / "long_classifier", label_names=LABELS)

    long_tagger = BertTokenClassifier(
        tagger.backbone,
        num_classes=len(CONLL2003_NER_LABELS),
        preprocessor=BertPreprocessor(tokenizer, SEQUENCE_LENGTH, stride=LONG_STRIDE),
    )
    long_tagger.output_dense.set_weights(tagger.output_dense.get_weights())
    export_saved_model(
        long_tagger, root / "long_tagger", label_names=CONLL2003_NER_LABELS
    )

    ids = {name: _numpy(value).tolist() for name, value in preprocessor(TEXTS).items()}
    jobs = {
        "classifier": (str(root / "classifier"), "serving_default", {"text": TEXTS}),
        "classifier_empty_batch": (
            str(root / "classifier"),
            "serving_default",
            {"text": []},
        ),
        "classifier_ids": (str(root / "classifier"), "serve_token_ids", ids),
        **{
            f"classifier_ids_{name}_{value}": (
                str(root / "classifier"),
                "serve_token_ids",
                {**ids, name: _with_one_id(ids[name], value)},
            )
            for name, value in (
                ("token_ids", -1),
                ("token_ids", vocabulary_size),
                ("segment_ids", 2),
            )
        },
        "pair_classifier": (
            str(root / "pair_classifier"),
            "serving_default",
            {"text_a": PAIRS[0], "text_b": PAIRS[1]},
        ),
        "long_classifier": (
            str(root / "long_classifier"),
            "serving_default",
            {"text": LONG_TEXTS},
        ),
        "long_classifier_empty_batch": (
            str(root / "long_classifier"),
            "serving_default",
            {"text": []},
        ),
        "regressor": (str(root / "regressor"), "serving_default", {"text": TEXTS}),
        "backbone": (str(root / "backbone"), "serving_default", {"text": TEXTS}),
        "tagger": (str(root / "tagger"), "serving_default", {"text": NER_TEXTS}),
        "long_tagger": (
            str(root / "long_tagger"),
            "serving_default",
            {"text": NER_TEXTS},
        ),
        "long_tagger_empty_batch": (
            str(root / "long_tagger"),
            "serving_default",
            {"text": []},
        ),
        "answerer": (
            str(root / "answerer"),
            "serving_default",
            {"question": QUESTIONS, "context": CONTEXTS},
        ),
        "answerer_v2": (
            str(root / "answerer_v2"),
            "serving_default",
            {"question": QUESTIONS, "context": CONTEXTS},
        ),
        "answerer_empty_batch": (
            str(root / "answerer"),
            "serving_default",
            {"question": [], "context": []},
        ),
    }
    return {
        "results": _serve(server, jobs),
        "run_result": run_result,
        "tokenizer": tokenizer,
        "preprocessor": preprocessor,
        "classifier": classifier,
        "long_classifier": long_classifier,
        "regressor": regressor,
        "backbone": backbone,
        "tagger": tagger,
        "long_tagger": long_tagger,
        "answerer": answerer,
        "null_score_diff_threshold": threshold,
    }


def test_serving_process_imports_neither_keras_nor_this_package(served):
    assert served["results"]["_loaded_modules"] == []


def test_classifier_serves_the_keras_predictions(served):
    results = served["results"]["classifier"]
    # `predict` on raw strings: the model's own (tf.data) preprocessing path.
    expected = _softmax(_numpy(served["classifier"].predict(TEXTS, verbose=0)))
    np.testing.assert_allclose(results["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(results["label_id"], expected.argmax(-1))
    assert results["label"] == [LABELS[i] for i in expected.argmax(-1)]
    # The token-id signature gives the same logits.
    np.testing.assert_allclose(
        served["results"]["classifier_ids"]["logits"], results["logits"], atol=1e-5
    )
    empty = served["results"]["classifier_empty_batch"]
    assert np.asarray(empty["probabilities"]).reshape(-1, 3).shape == (0, 3)
    assert empty["label"] == []


def test_long_texts_are_served_in_windows_as_predict_reads_them(served):
    results = served["results"]["long_classifier"]
    expected = _numpy(served["long_classifier"].predict(LONG_TEXTS, verbose=0))
    np.testing.assert_allclose(results["logits"], expected, atol=1e-5)
    np.testing.assert_allclose(results["probabilities"], _softmax(expected), atol=1e-5)
    assert results["label"] == [LABELS[i] for i in expected.argmax(-1)]
    # The short texts get what the classifier without windows serves.
    short = served["results"]["classifier"]
    np.testing.assert_allclose(
        np.asarray(results["logits"])[[0, 1, 3, 4]],
        np.asarray(short["logits"])[[0, 1, 3, 4]],
        atol=1e-5,
    )
    empty = served["results"]["long_classifier_empty_batch"]
    assert np.asarray(empty["logits"]).reshape(-1, 3).shape == (0, 3)


def _with_one_id(rows, value):
    """`rows` (lists of ids) with the last id of the first row set to `value`."""
    rows = [list(row) for row in rows]
    rows[0][-1] = value
    return rows


@pytest.mark.parametrize(
    "name, value", [("token_ids", -1), ("token_ids", "size"), ("segment_ids", 2)]
)
def test_token_id_signature_refuses_ids_outside_the_embeddings(served, name, value):
    vocabulary_size = served["tokenizer"].vocabulary_size()
    limit = vocabulary_size if name == "token_ids" else 2
    value = vocabulary_size if value == "size" else value
    error = served["results"][f"classifier_ids_{name}_{value}"]["error"]
    assert f"serve_token_ids: {name} must lie in [0, {limit})" in error


def test_pair_classifier_exported_from_a_run_directory(served):
    assert served["run_result"]["model"] == "BertClassifier"
    results = served["results"]["pair_classifier"]
    inputs = served["preprocessor"](PAIRS)
    expected = _softmax(_call(served["classifier"], inputs))
    np.testing.assert_allclose(results["probabilities"], expected, atol=1e-5)
    assert results["label"] == [LABELS[i] for i in expected.argmax(-1)]


def test_regressor_serves_the_score(served):
    results = served["results"]["regressor"]
    assert sorted(results) == ["logits", "score"]
    expected = _call(served["regressor"], served["preprocessor"](TEXTS))
    np.testing.assert_allclose(results["score"], expected[:, 0], atol=1e-5)


def test_backbone_serves_embeddings(served):
    results = served["results"]["backbone"]
    inputs = served["preprocessor"](TEXTS)
    expected = _call(served["backbone"], inputs)
    np.testing.assert_allclose(
        results["pooled_output"], expected["pooled_output"], atol=1e-5
    )
    np.testing.assert_allclose(
        results["sequence_output"], expected["sequence_output"], atol=1e-5
    )
    np.testing.assert_array_equal(
        results["padding_mask"], _numpy(inputs["padding_mask"])
    )


def test_tagger_serves_the_featurizer_tags_per_word(served):
    results = served["results"]["tagger"]
    featurizer = NerFeaturizer(
        served["tokenizer"], CONLL2003_NER_LABELS, sequence_length=SEQUENCE_LENGTH
    )
    features = featurizer.featurize([text.split() for text in NER_TEXTS])
    assert features["truncated_words"] > 0  # the long sentence is cut
    logits = _call(served["tagger"], features["x"])
    expected = featurizer.predictions_to_tags(logits, features)
    np.testing.assert_allclose(results["logits"], logits, atol=1e-5)
    width = len(results["tags"]) // len(NER_TEXTS)
    for index, text in enumerate(NER_TEXTS):
        count = results["num_words"][index]
        assert count == len(text.split())
        row = slice(index * width, index * width + count)
        assert results["words"][row] == text.split()
        assert results["tags"][row] == expected[index]


def test_long_sentences_are_tagged_in_windows_as_predict_reads_them(served):
    results = served["results"]["long_tagger"]
    logits = _numpy(served["long_tagger"].predict(NER_TEXTS, verbose=0))
    np.testing.assert_allclose(results["logits"], logits, atol=1e-5)
    tokenizer = served["tokenizer"]
    width = len(results["tags"]) // len(NER_TEXTS)
    for index, text in enumerate(NER_TEXTS):
        words = text.split()
        row = slice(index * width, index * width + len(words))
        assert results["words"][row] == words
        # Each word's tag: the argmax at its first piece (every word is tagged).
        first, tags = 1, []
        for word in words:
            tags.append(CONLL2003_NER_LABELS[logits[index, first].argmax()])
            first += len(np.asarray(tokenizer.tokenize(word)))
        assert first - 1 > SEQUENCE_LENGTH or index != 2  # the long one: windows
        assert results["tags"][row] == tags
    empty = served["results"]["long_tagger_empty_batch"]
    assert empty["tags"] == [] and empty["num_words"] == []


def _squad_reference(tokenizer, answerer, null_score_diff_threshold=None):
    """`SquadFeaturizer`'s answers: featurize, `predict` every window, n-best search.

    `n_best_size` covers every position, so its n-best lists hold every span
    (the export searches them all); only spans of exactly equal scores, which
    random float logits do not have, could be ordered differently. SQuAD
    v2.0 when a threshold is given.
    """
    featurizer = SquadFeaturizer(
        tokenizer,
        sequence_length=QA_SEQUENCE_LENGTH,
        doc_stride=QA_DOC_STRIDE,
        max_query_length=QA_MAX_QUERY_LENGTH,
        n_best_size=QA_SEQUENCE_LENGTH,
        max_answer_length=30,
        version_2_with_negative=null_score_diff_threshold is not None,
        null_score_diff_threshold=null_score_diff_threshold or 0.0,
    )
    examples = [
        SquadExample(str(index), question, context, (), False)
        for index, (question, context) in enumerate(zip(QUESTIONS, CONTEXTS))
    ]
    features = featurizer.featurize(examples)
    predictions = keras.tree.map_structure(
        _numpy, answerer.predict(features["x"], batch_size=64, verbose=0)
    )
    result = featurizer.postprocess(features, predictions)
    result.update(features=features, logits=predictions)
    return result


def _assert_answers_are_context_substrings(results):
    for index, context in enumerate(CONTEXTS):
        answer = results["answer"][index]
        start, end = results["start"][index], results["end"][index]
        assert answer == (context[start:end] if start >= 0 else ""), index


def test_answerer_serves_the_featurizer_answers_over_all_windows(served):
    results = served["results"]["answerer"]
    expected = _squad_reference(served["tokenizer"], served["answerer"])
    features = expected["features"]
    windows = np.bincount(features["example_index"], minlength=len(CONTEXTS))
    assert results["num_windows"] == windows.tolist()
    assert windows.max() >= 8  # contexts many windows long
    # The same windows, in the same order: the same logits.
    width = max(windows)
    served_logits = np.asarray(results["start_logits"]).reshape(
        -1, width, QA_SEQUENCE_LENGTH
    )
    for index, count in enumerate(windows):
        rows = features["example_index"] == index
        np.testing.assert_allclose(
            served_logits[index, :count],
            expected["logits"]["start_logits"][rows],
            atol=1e-5,
        )
    assert results["answer"] == [
        expected["predictions"][str(index)] for index in range(len(CONTEXTS))
    ]
    _assert_answers_are_context_substrings(results)
    assert results["answer"][3] == "" and results["start"][3] == -1  # no context
    # Some answers lie past the first window (which the old export only read).
    first_window = np.searchsorted(features["example_index"], range(len(CONTEXTS)))
    first_window_end = features["token_end_chars"][first_window].max(axis=1)
    assert np.sum(np.asarray(results["start"]) >= first_window_end) >= 2


def test_answerer_v2_serves_no_answer_as_the_featurizer(served):
    results = served["results"]["answerer_v2"]
    expected = _squad_reference(
        served["tokenizer"], served["answerer"], served["null_score_diff_threshold"]
    )
    answers = [expected["predictions"][str(index)] for index in range(len(CONTEXTS))]
    assert results["answer"] == answers
    with_context = [answers[index] for index in (0, 1, 2, 4, 5)]
    assert "" in with_context and any(with_context)  # both outcomes
    _assert_answers_are_context_substrings(results)
    empty = served["results"]["answerer_empty_batch"]
    assert empty["answer"] == [] and empty["num_windows"] == []


def test_unsupported_models_and_missing_preprocessor_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="supported models are"):
        export_saved_model(keras.Sequential([keras.layers.Dense(2)]), tmp_path / "a")
    with pytest.raises(ValueError, match="needs a preprocessor"):
        export_saved_model(tiny_backbone(), tmp_path / "b")
    assert not list(tmp_path.iterdir())


def test_find_preset_dir_of_runs_presets_and_names(tmp_path):
    for folder in (f"run/{RUN_MODEL_DIR}", "preset", "empty"):
        (tmp_path / folder).mkdir(parents=True)
    for folder in (f"run/{RUN_MODEL_DIR}", "preset"):
        (tmp_path / folder / CONFIG_FILE).write_text("{}")
    run_model = tmp_path / "run" / RUN_MODEL_DIR
    assert find_preset_dir(tmp_path / "run") == run_model
    assert find_preset_dir(run_model) == run_model
    assert find_preset_dir(tmp_path / "preset") == tmp_path / "preset"
    assert find_preset_dir("bert_tiny_en_uncased").name == "bert_tiny_en_uncased"
    with pytest.raises(FileNotFoundError, match="neither a run directory"):
        find_preset_dir(tmp_path / "empty")


def test_archive_constants_keep_their_old_import_path():
    from keras_bert_impl.export import saved_model_archive

    module = importlib.import_module("keras_bert_impl.export.export_saved_model")

    with pytest.warns(DeprecationWarning, match="saved_model_archive"):
        assert module.SERVING_SIGNATURE == saved_model_archive.SERVING_SIGNATURE


def test_export_never_replaces_its_run_or_a_users_folder(tmp_path):
    # Issue 13 item 2: --out deleted whatever was there, the run's folder included.
    run_model = tmp_path / "run" / RUN_MODEL_DIR
    run_model.mkdir(parents=True)
    (run_model / CONFIG_FILE).write_text("{}")
    for out in (tmp_path, tmp_path / "run", run_model):
        with pytest.raises(ValueError, match="holds the input"):
            export_from_run(tmp_path / "run", out, overwrite=True)
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not empty.*--overwrite"):
        export_from_run(tmp_path / "run", tmp_path / "serving")
    assert (tmp_path / "serving" / "notes.txt").read_text() == "keep"
    assert (run_model / CONFIG_FILE).is_file()
