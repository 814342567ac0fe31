// Encodes text files with Hugging Face `tokenizers` (the Rust library, through the @anush008/tokenizers
// Node binding) as encode(text, add_special_tokens=False): one line of space-separated ids per file.
// usage: node hf_encode.js NODE_MODULES_DIR TOKENIZER_JSON TEXT...
const path = require('path');
const fs = require('fs');
const { Tokenizer } = require(path.resolve(process.argv[2], '@anush008/tokenizers'));

(async () => {
  const tok = Tokenizer.fromFile(process.argv[3]);
  const lines = [];
  for (const file of process.argv.slice(4)) {
    const enc = await tok.encode(fs.readFileSync(file, 'utf8'), null, { addSpecialTokens: false });
    lines.push(enc.getIds().join(' '));
  }
  process.stdout.write(lines.join('\n') + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
