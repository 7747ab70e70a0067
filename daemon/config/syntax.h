// keepalived.conf syntax, below the meaning of any keyword: tokens with their
// file:line, `include` expansion, and the tree of `keyword args { ... }`
// statements. The model builder (load.cc) gives the statements a meaning.
//
// Grammar, as keepalived.conf(5) documents it:
//   - a statement is a keyword and its arguments up to the end of the line, or
//     up to a `{` (which opens a block of statements) or a `}` (which closes one);
//   - `#` and `!` start a comment that runs to the end of the line (vigil only
//     takes them as comments at the start of a word, so `pa!ss` stays a word);
//   - "..." and '...' quote whitespace into a word; shell-style backslash escapes
//     (\n \t \\ \" \xHH \NNN ...) are decoded inside quotes;
//   - a backslash that is the last thing on a line continues the statement on
//     the next line;
//   - `include PATTERN` (first word of a line) splices in every file matching the
//     glob PATTERN, relative to the directory of the including file.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/load.h"

namespace vigil::config::syntax {

enum class TokenKind : uint8_t { Word, Open, Close };

// 24 bytes. Only the tokens of one top-level statement exist at once (see
// StatementReader), however large the config.
struct Token {
    std::string_view text;     // points into Document::storage_
    uint32_t line = 0;
    uint16_t file = 0;         // index into Document::file_ids (kMaxFiles)
    TokenKind kind = TokenKind::Word;
    bool starts_line : 1 = false;  // first token of a (non-continued) line
    bool quoted : 1 = false;
};

// A statement's arguments are the tokens right after its keyword; its
// children are a run of the StatementReader's one array (not a vector per
// block).
struct Statement {
    const Token* keyword = nullptr;
    std::span<const Statement> children;
    uint32_t nargs = 0;
    bool has_block = false;
    std::string_view name() const { return keyword->text; }
    const Token& arg(size_t i) const { return keyword[1 + i]; }
};

// One configuration: its top-level file (or text) and, once read, the files
// it includes, with the diagnostics of reading them. Tokens point into this
// object: keep it alive while using them, and do not copy it (moving keeps
// every pointer valid). The files are read as a StatementReader goes.
class Document {
public:
    Document() = default;
    Document(Document&&) = default;
    Document& operator=(Document&&) = default;
    Document(const Document&) = delete;
    Document& operator=(const Document&) = delete;

    // Token::file is 16 bits: a config of more files than this is refused.
    static constexpr size_t kMaxFiles = UINT16_MAX;

    // The files read, in order (includes too), as SourceLoc file ids: their
    // names as written in diagnostics.
    std::vector<uint32_t> file_ids;
    std::vector<Diagnostic> errors;     // syntax and include errors
    std::vector<Diagnostic> warnings;

    SourceLoc loc(const Token& t) const { return SourceLoc::at(file_ids[t.file], static_cast<int>(t.line)); }

    // Internal to the lexer: owned text (file contents, decoded quoted words)
    // and where reading starts (a file to open, or storage_'s first string).
    std::deque<std::string> storage_;
    std::string root_path_;
    bool root_is_text_ = false;
};

class Lexer;

// A Document's statements, one top-level statement (with everything nested
// in it) at a time: the lexer reads just the tokens of the next top-level
// statement, and the statements are built from them, in memory reused for
// the next one. A 10,000-server config is 120,000 tokens and 50,000
// statements, of which one virtual_server's worth exists at once.
// Brace and include errors go to the Document's errors as they are met.
class StatementReader {
public:
    explicit StatementReader(Document& doc);
    ~StatementReader();
    // The next top-level statement, or null after the last. It and its
    // children are valid until the next call.
    const Statement* next();

private:
    // Finds the tokens of the next top-level statement, lexing as needed; false at the end.
    bool read_tokens();
    std::span<const Statement> parse_block(const Token* opener, size_t depth);
    void parse_statements(std::vector<Statement>& out, const Token* opener, size_t depth);
    Statement parse_statement(size_t depth);

    Document& doc_;
    std::unique_ptr<Lexer> lexer_;
    std::vector<Token> toks_;  // the current top-level statement's tokens, and some of the next's
    size_t chunk_begin_ = 0, chunk_end_ = 0;
    size_t pos_ = 0;
    // Every statement of the current top-level one; reserved to their count
    // (statement_count_, from read_tokens) before parsing, so that no append
    // moves it (the children spans point into it).
    size_t statement_count_ = 0;
    std::vector<Statement> statements_;
    std::deque<std::vector<Statement>> scratch_;  // per depth; deque: growing it keeps references valid
    Statement current_;
};

// A Document to read from a file, or from text under a file's name.
Document parse_file(const std::string& path);
Document parse_text(const std::string& text, const std::string& name);

}  // namespace vigil::config::syntax
