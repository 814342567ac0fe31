// Byte-level BPE tokenizer (GPT-2 style): our own trained tokenizers (.bpe text files) and
// Hugging Face tokenizer.json files (model BPE with a ByteLevel pre-tokenizer: GPT-2, Llama 3, Qwen2).
//
// Encoding = split the text on added/special tokens (leftmost-longest), pre-tokenize each remaining
// segment with a regex (PCRE2, UTF + UCP, JIT), then merge each piece's bytes by merge rank (lowest
// rank first, leftmost first), as Hugging Face's `encode(text, add_special_tokens=False)` does.
// Bytes that are not valid UTF-8 (and NUL) never match the regex: each such run is a piece of its own,
// so encode/decode round-trips any byte string exactly.
//
// Functions that can fail return NULL or -1 and write one line naming the file and the field into err.
// A Tokenizer caches piece encodings: use one from one thread at a time.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

// Built-in pre-tokenizer regexes, selectable by name in training and in .bpe files.
extern const char TOKENIZER_SPLIT_GPT2[];
extern const char TOKENIZER_SPLIT_LLAMA3[];
extern const char TOKENIZER_SPLIT_QWEN2[];

typedef struct {
    int vocab;                  // target vocab size, >= 256 + n_special
    const char *split;          // "llama3" (default when NULL), "gpt2", "qwen2"
    const char *const *special; // special tokens appended after the merges (never merged, matched in text)
    int n_special;
    int verbose;                // progress lines on stderr
} BpeTrainOptions;

typedef struct {
    double seconds_split, seconds_merge;
    long words, unique_words;   // pieces seen in the corpus, distinct pieces
    int merges;                 // merges learnt (fewer than asked when the corpus runs out of pairs)
} BpeTrainStats;

// Trains on n_texts texts (pieces never span two texts). Deterministic: the same texts and options
// give the same tokenizer on any machine. Ties between equally frequent pairs go to the smaller
// (left id, right id). stats may be NULL.
Tokenizer *tokenizer_train(const char *const *texts, const size_t *lens, int n_texts,
                           const BpeTrainOptions *opt, BpeTrainStats *stats, char *err, size_t errlen);

// Our own format (.bpe, text): see tokenizer_bpefile.c for the grammar. Save writes a temporary file and renames.
int tokenizer_save(const Tokenizer *tok, const char *path, char *err, size_t errlen);
// Reads it from memory (tokenizer_open reads either format from a file); name is used in messages.
Tokenizer *tokenizer_load_mem(const char *name, const char *data, size_t len, char *err, size_t errlen);

// Hugging Face tokenizer.json.
Tokenizer *tokenizer_load_hf_mem(const char *name, const char *data, size_t len, char *err, size_t errlen);

// Either format, told apart by the first non-blank byte ('{' = Hugging Face JSON).
Tokenizer *tokenizer_open(const char *path, char *err, size_t errlen);

// *out is malloc'ed (free it); returns 0, or -1 only on allocation failure.
int tokenizer_encode(Tokenizer *tok, const char *bytes, size_t len, int **out, long *n);
// Bytes of the ids (malloc'ed, NUL-terminated for convenience, *len excludes the NUL).
// Returns NULL and a message for an id outside the vocabulary.
char *tokenizer_decode(const Tokenizer *tok, const int *ids, long n, size_t *len, char *err, size_t errlen);

int tokenizer_vocab_size(const Tokenizer *tok);
int tokenizer_n_merges(const Tokenizer *tok);
int tokenizer_n_added(const Tokenizer *tok);
// Merge of rank r: *left + *right -> returned id; -1 when r is out of range.
int tokenizer_merge(const Tokenizer *tok, int rank, int *left, int *right);
// The bytes of one token (NULL for an id outside the vocabulary or a hole in a Hugging Face vocab).
const char *tokenizer_token(const Tokenizer *tok, int id, int *len);
// Id of an added/special token by its exact text, or -1.
int tokenizer_added_id(const Tokenizer *tok, const char *text);
// Pre-tokenizer description ("llama3", "gpt2", "qwen2", or "hf:<steps>") for `sweep tokenize info`.
const char *tokenizer_describe(const Tokenizer *tok);
void tokenizer_free(Tokenizer *tok);
