#include "daemon/config/syntax.h"

#include <glob.h>
#include <sys/stat.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <deque>
#include <unordered_map>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

namespace vigil::config {

// The process-wide file-name table behind SourceLoc::file_id. Append-only:
// a name, once seen, stays (a reload re-reads the same few files, so the
// table holds about as many names as the config has files). vigil loads
// configs on one thread only (core's loop), so no lock.
namespace {
struct FileNames {
    std::deque<std::string> names;  // id - 1 -> name; a deque keeps each name where it is
    std::unordered_map<std::string_view, uint32_t> ids;
};
FileNames& file_names() {
    static FileNames* t = new FileNames;  // never destroyed: locations may be read during exit
    return *t;
}
}  // namespace

uint32_t SourceLoc::intern_file_name(const std::string& name) {
    FileNames& t = file_names();
    if (auto it = t.ids.find(name); it != t.ids.end()) return it->second;
    t.names.push_back(name);
    auto id = static_cast<uint32_t>(t.names.size());
    t.ids.emplace(t.names.back(), id);
    return id;
}

const std::string& SourceLoc::file_name() const {
    static const std::string none;
    const FileNames& t = file_names();
    return file_id == 0 || file_id > t.names.size() ? none : t.names[file_id - 1];
}

}  // namespace vigil::config

namespace vigil::config::syntax {
namespace {

// Deeper nesting than this is almost certainly a mistake the cycle check did
// not catch (e.g. the same file reached through different symlink names).
constexpr int kMaxIncludeDepth = 32;

// Byte classes, one table lookup per byte in the lexer's inner loops (a
// large config is a megabyte of mostly indentation and short words).
enum ByteClass : uint8_t { kBlank = 1, kWordEnd = 2, kQuote = 4, kNul = 8 };
constexpr std::array<uint8_t, 256> kByteClass = [] {
    std::array<uint8_t, 256> t{};
    for (unsigned char c : {' ', '\t', '\r', '\f', '\v'}) t[c] = kBlank | kWordEnd;
    for (unsigned char c : {'\n', '{', '}'}) t[c] = kWordEnd;
    for (unsigned char c : {'"', '\''}) t[c] = kQuote;
    t[0] = kNul;  // the end of the text (see Lexer::lex)
    return t;
}();
uint8_t byte_class(char c) { return kByteClass[static_cast<unsigned char>(c)]; }
bool is_space(char c) { return byte_class(c) & kBlank; }
bool is_word_end(char c) { return byte_class(c) & kWordEnd; }

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[{") != std::string::npos; }

class Lexer {
public:
    explicit Lexer(Document& doc) : doc_(doc) {}

    // Lexes `text` (a string in doc_.storage_, so NUL-terminated) as file `file_index`.
    void lex(std::string_view text, uint16_t file_index, const std::string& path_for_includes);

    // Reads and lexes a file reached from `from` (null for the top-level file).
    void lex_path(const std::string& path, const Token* from);

    // Text loaded by the caller under the name of a real file: an include of
    // that file from itself is a cycle too.
    void enter_root(const std::string& path) {
        char real[PATH_MAX];
        if (realpath(path.c_str(), real)) include_stack_.push_back(real);
    }

private:
    void error(uint32_t file, uint32_t line, std::string msg) {
        doc_.errors.push_back(Diagnostic{SourceLoc::at(doc_.file_ids[file], static_cast<int>(line)), std::move(msg)});
    }
    void warning(uint32_t file, uint32_t line, std::string msg) {
        doc_.warnings.push_back(Diagnostic{SourceLoc::at(doc_.file_ids[file], static_cast<int>(line)), std::move(msg)});
    }
    // Decodes a word containing quotes or escapes; returns the position after it.
    size_t lex_quoted_word(std::string_view text, size_t pos, uint16_t file, uint32_t& line, Token& tok);
    // At each end of line (called for every line, so the test is inline): an
    // `include` line is replaced by the tokens of the files it names.
    void end_of_line(size_t line_first_token, const std::string& including_path) {
        const auto& toks = doc_.tokens_;
        if (line_first_token < toks.size() && is_include(toks[line_first_token]))
            expand_include_line(line_first_token, including_path);
    }
    static bool is_include(const Token& t) {
        return t.kind == TokenKind::Word && !t.quoted && t.starts_line && t.text == "include";
    }
    void expand_include_line(size_t line_first_token, const std::string& including_path);
    void include(const Token& kw, const Token& pattern, const std::string& including_path);

    Document& doc_;
    std::vector<std::string> include_stack_;  // real paths, for cycle detection
};

size_t Lexer::lex_quoted_word(std::string_view text, size_t pos, uint16_t file, uint32_t& line, Token& tok) {
    std::string out;
    char quote = 0;
    const uint32_t start_line = line;
    while (pos < text.size()) {
        char c = text[pos];
        if (!quote) {
            if (is_word_end(c)) break;
            if (c == '"' || c == '\'') {
                quote = c;
                tok.quoted = true;
                ++pos;
                continue;
            }
            out.push_back(c);
            ++pos;
            continue;
        }
        if (c == quote) {
            quote = 0;
            ++pos;
            continue;
        }
        if (c == '\n') break;  // unterminated: reported below
        if (c != '\\' || pos + 1 >= text.size()) {
            out.push_back(c);
            ++pos;
            continue;
        }
        // Shell-like escapes inside quotes, as keepalived.conf(5) lists them.
        char e = text[pos + 1];
        pos += 2;
        switch (e) {
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'E': out.push_back('\033'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x': {
            int v = 0, n = 0;
            while (pos < text.size() && n < 2 && isxdigit(static_cast<unsigned char>(text[pos]))) {
                char h = text[pos++];
                v = v * 16 + (isdigit(static_cast<unsigned char>(h)) ? h - '0' : (tolower(h) - 'a' + 10));
                ++n;
            }
            if (n == 0) out.push_back('x');
            else out.push_back(static_cast<char>(v));
            break;
        }
        case 'c':
            if (pos < text.size()) out.push_back(static_cast<char>(text[pos++] & 0x1f));
            break;
        case '\n':
            ++line;  // escaped newline inside quotes: dropped
            break;
        default:
            if (e >= '0' && e <= '7') {
                int v = e - '0', n = 1;
                while (pos < text.size() && n < 3 && text[pos] >= '0' && text[pos] <= '7') {
                    v = v * 8 + (text[pos++] - '0');
                    ++n;
                }
                out.push_back(static_cast<char>(v));
            } else {
                out.push_back(e);
            }
        }
    }
    if (quote) error(file, start_line, "unterminated quoted string");
    doc_.storage_.push_back(std::move(out));
    tok.text = doc_.storage_.back();
    return pos;
}

void Lexer::lex(std::string_view text, uint16_t file, const std::string& path_for_includes) {
    auto& toks = doc_.tokens_;
    // Roughly one token per 8-10 bytes of a typical config (indentation and
    // short words): reserve once instead of regrowing (and copying) the token
    // array while lexing a large file.
    toks.reserve(toks.size() + text.size() / 8);
    // `text` is a std::string's, so a NUL follows it: the scanning loops stop
    // there without a bounds check of their own (a NUL inside the text is
    // told apart by its position, and stays part of its word).
    const char* p = text.data();
    const char* const end = p + text.size();
    uint32_t line = 1;
    bool at_line_start = true;
    size_t line_first_token = toks.size();
    while (p < end) {
        const char c = *p;
        if (is_space(c)) {  // first: most bytes of a config are indentation
            do ++p;
            while (is_space(*p));
            continue;
        }
        if (c == '\n') {
            end_of_line(line_first_token, path_for_includes);
            ++line;
            ++p;
            at_line_start = true;
            line_first_token = toks.size();
            continue;
        }
        if (c == '\\') {
            // A backslash followed only by blanks up to the end of the line joins
            // the next line to this statement.
            const char* q = p + 1;
            while (is_space(*q)) ++q;
            if (q >= end || *q == '\n') {
                p = q + 1;
                ++line;
                continue;
            }
        }
        if (c == '#' || c == '!') {
            const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
            p = nl ? static_cast<const char*>(nl) : end;
            continue;
        }
        Token& tok = toks.emplace_back();  // filled in place
        tok.file = file;
        tok.line = line;
        tok.starts_line = at_line_start;
        at_line_start = false;
        if (c == '{' || c == '}') {
            tok.kind = c == '{' ? TokenKind::Open : TokenKind::Close;
            tok.text = std::string_view(p, 1);
            ++p;
        } else {
            const char* w = p;
            for (;;) {
                while (!(byte_class(*w) & (kWordEnd | kQuote | kNul))) ++w;
                if (*w != '\0' || w >= end) break;
                ++w;  // a NUL inside the text
            }
            if (w >= end || !(byte_class(*w) & kQuote)) {
                tok.text = std::string_view(p, static_cast<size_t>(w - p));
                p = w;
                // `word\` at the end of a line: the backslash continues the
                // line, it is not part of the word.
                if (tok.text.size() > 1 && tok.text.back() == '\\') {
                    const char* q = p;
                    while (is_space(*q)) ++q;
                    if (q >= end || *q == '\n') {
                        tok.text.remove_suffix(1);
                        p = q + 1;
                        ++line;  // the token keeps the line it started on
                    }
                }
            } else {
                p = text.data() + lex_quoted_word(text, static_cast<size_t>(p - text.data()), file, line, tok);
            }
        }
    }
    end_of_line(line_first_token, path_for_includes);
}

void Lexer::expand_include_line(size_t first, const std::string& including_path) {
    auto& toks = doc_.tokens_;
    const Token& kw = toks[first];
    Token kw_copy = kw;
    if (toks.size() - first != 2 || toks[first + 1].kind != TokenKind::Word) {
        error(kw.file, kw.line, "include takes exactly one file name or pattern");
        toks.resize(first);
        return;
    }
    Token pattern = toks[first + 1];
    toks.resize(first);
    include(kw_copy, pattern, including_path);
}

void Lexer::include(const Token& kw, const Token& pattern_tok, const std::string& including_path) {
    std::string pattern(pattern_tok.text);
    if (pattern.empty()) {
        error(kw.file, kw.line, "include with an empty file name");
        return;
    }
    if (pattern[0] != '/') pattern = dir_of(including_path) + "/" + pattern;
    if (static_cast<int>(include_stack_.size()) >= kMaxIncludeDepth) {
        error(kw.file, kw.line, "includes nested deeper than " + std::to_string(kMaxIncludeDepth) + " levels");
        return;
    }
    glob_t g{};
    int rc = glob(pattern.c_str(), GLOB_BRACE | GLOB_ERR, nullptr, &g);
    if (rc == GLOB_NOMATCH) {
        globfree(&g);
        if (has_glob_chars(std::string(pattern_tok.text)))
            warning(kw.file, kw.line, "include pattern '" + pattern + "' matches no file");
        else
            error(kw.file, kw.line, "cannot open included file '" + pattern + "': " + std::strerror(ENOENT));
        return;
    }
    if (rc != 0) {
        globfree(&g);
        error(kw.file, kw.line, "cannot expand include pattern '" + pattern + "'");
        return;
    }
    std::vector<std::string> paths(g.gl_pathv, g.gl_pathv + g.gl_pathc);  // glob sorts them
    globfree(&g);
    for (const auto& p : paths) lex_path(p, &kw);
}

void Lexer::lex_path(const std::string& path, const Token* from) {
    auto fail = [&](const std::string& msg) {
        if (from) error(from->file, from->line, msg);
        else doc_.errors.push_back(Diagnostic{SourceLoc{path, 0}, msg});
    };
    char real[PATH_MAX];
    if (!realpath(path.c_str(), real)) {
        fail("cannot open " + std::string(from ? "included file " : "") + "'" + path + "': " + std::strerror(errno));
        return;
    }
    for (size_t i = 0; i < include_stack_.size(); ++i) {
        if (include_stack_[i] == real) {
            std::string chain;
            for (size_t j = i; j < include_stack_.size(); ++j) chain += include_stack_[j] + " -> ";
            fail("include cycle: " + chain + real);
            return;
        }
    }
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        fail("cannot read " + std::string(from ? "included file " : "") + "'" + path + "': it is a directory");
        return;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail("cannot open " + std::string(from ? "included file " : "") + "'" + path + "': " + std::strerror(errno));
        return;
    }
    // Read straight into a string of the file's size (a stringstream copies
    // a megabyte config twice); keep reading in case the file grew meanwhile.
    std::string content(static_cast<size_t>(st.st_size), '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<size_t>(in.gcount()));
    if (in) {
        char buf[4096];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) content.append(buf, static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) {
        fail("cannot read '" + path + "'");
        return;
    }
    if (doc_.file_ids.size() >= Document::kMaxFiles) {
        fail("more than " + std::to_string(Document::kMaxFiles) + " files in one configuration");
        return;
    }
    doc_.storage_.push_back(std::move(content));
    std::string_view text = doc_.storage_.back();
    doc_.file_ids.push_back(SourceLoc::intern_file_name(path));
    include_stack_.push_back(real);
    lex(text, static_cast<uint16_t>(doc_.file_ids.size() - 1), path);
    include_stack_.pop_back();
}

}  // namespace

// A statement ends at the end of its line, at a `{` (whose block becomes its
// children) or at a `}`.
StatementReader::StatementReader(Document& doc) : doc_(doc), toks_(doc.tokens_) {
    // A statement starts at each word that is not an argument: the first
    // token, a word starting a line, a word after a brace (parse_statement's
    // rule, counted ahead). No top-level statement has more than all of them.
    size_t n = 0;
    for (size_t i = 0; i < toks_.size(); ++i) {
        const Token& t = toks_[i];
        if (t.kind == TokenKind::Word && (i == 0 || t.starts_line || toks_[i - 1].kind != TokenKind::Word)) ++n;
    }
    statements_.reserve(n);
}

const Statement* StatementReader::next() {
    statements_.clear();
    while (pos_ < toks_.size()) {
        const Token& t = toks_[pos_];
        if (t.kind == TokenKind::Close) {
            ++pos_;
            doc_.errors.push_back(Diagnostic{doc_.loc(t), "unexpected '}' with no open block"});
            continue;
        }
        if (t.kind == TokenKind::Open) {
            doc_.errors.push_back(Diagnostic{doc_.loc(t), "'{' without a keyword before it"});
            ++pos_;
            parse_block(&t, 1);  // parsed for its errors, then unused
            statements_.clear();
            continue;
        }
        current_ = parse_statement(0);
        return &current_;
    }
    return nullptr;
}

// Collects a block's statements in a scratch vector kept per depth (its
// nested blocks are appended first), then appends them to statements_ as one
// contiguous run: the block's children.
std::span<const Statement> StatementReader::parse_block(const Token* opener, size_t depth) {
    if (scratch_.size() <= depth) scratch_.resize(depth + 1);
    std::vector<Statement>& block = scratch_[depth];
    block.clear();
    parse_statements(block, opener, depth);
    const size_t first = statements_.size();
    statements_.insert(statements_.end(), block.begin(), block.end());
    block.clear();
    return {statements_.data() + first, statements_.size() - first};
}

void StatementReader::parse_statements(std::vector<Statement>& out, const Token* opener, size_t depth) {
    while (pos_ < toks_.size()) {
        const Token& t = toks_[pos_];
        if (t.kind == TokenKind::Close) {
            ++pos_;
            return;
        }
        if (t.kind == TokenKind::Open) {
            doc_.errors.push_back(Diagnostic{doc_.loc(t), "'{' without a keyword before it"});
            ++pos_;
            parse_block(&t, depth + 1);  // parsed for its errors, then unused
            continue;
        }
        out.push_back(parse_statement(depth));
    }
    doc_.errors.push_back(Diagnostic{doc_.loc(*opener), "missing '}' for the block opened here"});
}

// The keyword at pos_, its arguments, and its block if one follows.
Statement StatementReader::parse_statement(size_t depth) {
    Statement st;
    st.keyword = &toks_[pos_];
    ++pos_;
    const size_t first_arg = pos_;
    while (pos_ < toks_.size() && toks_[pos_].kind == TokenKind::Word && !toks_[pos_].starts_line) ++pos_;
    st.nargs = static_cast<uint32_t>(pos_ - first_arg);
    if (pos_ < toks_.size() && toks_[pos_].kind == TokenKind::Open) {
        const Token& open = toks_[pos_];
        ++pos_;
        st.has_block = true;
        st.children = parse_block(&open, depth + 1);
    }
    return st;
}

Document parse_file(const std::string& path) {
    Document doc;
    Lexer lexer(doc);
    lexer.lex_path(path, nullptr);
    return doc;
}

Document parse_text(const std::string& text, const std::string& name) {
    Document doc;
    doc.storage_.push_back(text);
    doc.file_ids.push_back(SourceLoc::intern_file_name(name));
    Lexer lexer(doc);
    lexer.enter_root(name);
    lexer.lex(doc.storage_.back(), 0, name);
    return doc;
}

}  // namespace vigil::config::syntax
