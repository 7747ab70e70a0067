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

}  // namespace

// Reads the files of one configuration a line at a time, following its
// includes: the files still to read are a stack, the top one being lexed.
class Lexer {
public:
    explicit Lexer(Document& doc) : doc_(doc) {}

    // Where reading starts: a file reached from `from` (null for the
    // top-level file), or text already in doc_.storage_ (NUL-terminated, as
    // every std::string) under a file's name.
    void push_file(const std::string& path, const Token* from);
    void push_text(std::string_view text, const std::string& name);

    // Appends the tokens of the next lines (at least one line that has any,
    // a few hundred tokens' worth when there are that many); an `include`
    // line is replaced by the lines of the files it names. A line is one
    // with those a trailing backslash joins to it. False once every file is read.
    bool next_lines(std::vector<Token>& out);

private:
    struct Frame {
        std::string path;  // as named: includes are relative to its directory
        const char* begin = nullptr;
        const char* p = nullptr;  // the next byte to lex
        const char* end = nullptr;
        uint32_t line = 1;
        uint16_t file = 0;        // index into doc_.file_ids
        bool opened = false;      // its text is read (and its real path is on include_stack_)
        bool has_real_path = false;
        // The include that named it, for errors opening it.
        bool from_include = false;
        uint16_t from_file = 0;
        uint32_t from_line = 0;
    };

    void error(uint32_t file, uint32_t line, std::string msg) {
        doc_.errors.push_back(Diagnostic{SourceLoc::at(doc_.file_ids[file], static_cast<int>(line)), std::move(msg)});
    }
    void warning(uint32_t file, uint32_t line, std::string msg) {
        doc_.warnings.push_back(Diagnostic{SourceLoc::at(doc_.file_ids[file], static_cast<int>(line)), std::move(msg)});
    }
    // Reads the top frame's file; false (the error reported) if it cannot be.
    bool open(Frame& f);
    // The frame's text is `text` (NUL-terminated): its file is numbered and,
    // with a real path, on include_stack_.
    void begin_text(Frame& f, std::string_view text, const char* real_path);
    void pop_frame() {
        if (frames_.back().has_real_path) include_stack_.pop_back();
        frames_.pop_back();
    }
    // Lexes whole lines of f into out until it holds `want` tokens, an
    // include line is complete (its first token's index is returned), or
    // the text ends; npos when no include line stopped it.
    size_t lex_lines(Frame& f, std::vector<Token>& out, size_t want);
    // Decodes a word containing quotes or escapes; returns the position after it.
    size_t lex_quoted_word(std::string_view text, size_t pos, uint16_t file, uint32_t& line, Token& tok);
    static bool is_include(const Token& t) {
        return t.kind == TokenKind::Word && !t.quoted && t.starts_line && t.text == "include";
    }
    void include(std::span<const Token> line, const std::string& including_path);

    Document& doc_;
    std::vector<Frame> frames_;
    std::vector<std::string> include_stack_;  // real paths of the opened frames, for cycle detection
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

size_t Lexer::lex_lines(Frame& f, std::vector<Token>& out, size_t want) {
    // The text is a std::string's, so a NUL follows it: the scanning loops
    // stop there without a bounds check of their own (a NUL inside the text
    // is told apart by its position, and stays part of its word).
    const char* p = f.p;
    const char* const end = f.end;
    const uint16_t file = f.file;
    uint32_t line = f.line;  // locals: the token stores below could alias f
    bool at_line_start = true;
    size_t line_first = out.size();  // the current line's first token
    size_t include_at = std::string_view::npos;
    while (p < end) {
        const char c = *p;
        if (is_space(c)) {  // first: most bytes of a config are indentation
            do ++p;
            while (is_space(*p));
            continue;
        }
        if (c == '\n') {
            ++p;
            ++line;
            if (out.size() > line_first) {
                if (is_include(out[line_first])) {
                    include_at = line_first;
                    break;
                }
                if (out.size() >= want) break;
            }
            at_line_start = true;
            line_first = out.size();
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
        Token& tok = out.emplace_back();  // filled in place
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
                std::string_view text(f.begin, static_cast<size_t>(end - f.begin));
                p = f.begin + lex_quoted_word(text, static_cast<size_t>(p - f.begin), file, line, tok);
            }
        }
    }
    if (p >= end && include_at == std::string_view::npos && out.size() > line_first && is_include(out[line_first]))
        include_at = line_first;  // the last line, without a newline
    f.p = std::min(p, end);
    f.line = line;
    return include_at;
}

bool Lexer::next_lines(std::vector<Token>& out) {
    // Enough lines at a time that the calls cost little per token, few
    // enough that the tokens past the statement being read stay few.
    constexpr size_t kBatch = 256;
    const size_t first = out.size();
    while (!frames_.empty()) {
        Frame& f = frames_.back();
        if (!f.opened && !open(f)) {
            frames_.pop_back();
            continue;
        }
        if (f.p >= f.end) {
            pop_frame();
            continue;
        }
        size_t include_at = lex_lines(f, out, first + kBatch);
        if (include_at != std::string_view::npos) {
            std::string including_path = f.path;  // f moves when include() pushes frames
            include(std::span<const Token>(out).subspan(include_at), including_path);
            out.resize(include_at);
        }
        if (out.size() > first) return true;
    }
    return false;
}

void Lexer::include(std::span<const Token> line, const std::string& including_path) {
    const Token& kw = line[0];
    if (line.size() != 2 || line[1].kind != TokenKind::Word) {
        error(kw.file, kw.line, "include takes exactly one file name or pattern");
        return;
    }
    std::string pattern(line[1].text);
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
        if (has_glob_chars(std::string(line[1].text)))
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
    // glob sorts them; the first to be read goes on top.
    for (size_t i = g.gl_pathc; i-- > 0;) push_file(g.gl_pathv[i], &kw);
    globfree(&g);
}

void Lexer::push_file(const std::string& path, const Token* from) {
    Frame& f = frames_.emplace_back();
    f.path = path;
    if (from) {
        f.from_include = true;
        f.from_file = from->file;
        f.from_line = from->line;
    }
}

void Lexer::push_text(std::string_view text, const std::string& name) {
    Frame& f = frames_.emplace_back();
    f.path = name;
    // Text loaded under the name of a real file: an include of that file
    // from itself is a cycle too.
    char real[PATH_MAX];
    begin_text(f, text, realpath(name.c_str(), real) ? real : nullptr);
}

void Lexer::begin_text(Frame& f, std::string_view text, const char* real_path) {
    f.begin = f.p = text.data();
    f.end = text.data() + text.size();
    f.file = static_cast<uint16_t>(doc_.file_ids.size());
    doc_.file_ids.push_back(SourceLoc::intern_file_name(f.path));
    f.opened = true;
    if (real_path) {
        include_stack_.push_back(real_path);
        f.has_real_path = true;
    }
}

bool Lexer::open(Frame& f) {
    const std::string& path = f.path;
    auto fail = [&](const std::string& msg) {
        if (f.from_include) error(f.from_file, f.from_line, msg);
        else doc_.errors.push_back(Diagnostic{SourceLoc{path, 0}, msg});
        return false;
    };
    const char* what = f.from_include ? "included file " : "";
    char real[PATH_MAX];
    if (!realpath(path.c_str(), real))
        return fail("cannot open " + std::string(what) + "'" + path + "': " + std::strerror(errno));
    for (size_t i = 0; i < include_stack_.size(); ++i) {
        if (include_stack_[i] == real) {
            std::string chain;
            for (size_t j = i; j < include_stack_.size(); ++j) chain += include_stack_[j] + " -> ";
            return fail("include cycle: " + chain + real);
        }
    }
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        return fail("cannot read " + std::string(what) + "'" + path + "': it is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot open " + std::string(what) + "'" + path + "': " + std::strerror(errno));
    // Read straight into a string of the file's size (a stringstream copies
    // a megabyte config twice); keep reading in case the file grew meanwhile.
    std::string content(static_cast<size_t>(st.st_size), '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    content.resize(static_cast<size_t>(in.gcount()));
    if (in) {
        char buf[4096];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) content.append(buf, static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) return fail("cannot read '" + path + "'");
    if (doc_.file_ids.size() >= Document::kMaxFiles)
        return fail("more than " + std::to_string(Document::kMaxFiles) + " files in one configuration");
    doc_.storage_.push_back(std::move(content));
    begin_text(f, doc_.storage_.back(), real);
    return true;
}

// A statement ends at the end of its line, at a `{` (whose block becomes its
// children) or at a `}`.
StatementReader::StatementReader(Document& doc) : doc_(doc), lexer_(std::make_unique<Lexer>(doc)) {
    if (doc.root_is_text_) lexer_->push_text(doc.storage_.front(), doc.root_path_);
    else lexer_->push_file(doc.root_path_, nullptr);
}

StatementReader::~StatementReader() = default;

// The tokens of one top-level statement, toks_[chunk_begin_, chunk_end_):
// up to the next word that starts a statement (a line's first word, or a
// word after a brace) outside any block. The braces are only counted here;
// parse_block reports what does not match. The lexer's lines go straight
// into toks_, so the next statement's first tokens are there already.
bool StatementReader::read_tokens() {
    size_t i = chunk_end_;
    if (i == toks_.size()) {
        i = 0;
        toks_.clear();
    }
    chunk_begin_ = i;
    size_t statements = 0, depth = 0;
    TokenKind previous = TokenKind::Open;  // as if before the first token: it starts a statement
    for (;;) {
        const Token* tokens = toks_.data();  // locals: toks_ grows between batches
        for (const size_t n = toks_.size(); i < n; ++i) {
            const Token& t = tokens[i];
            const bool starts_statement =
                t.kind == TokenKind::Word && (t.starts_line || previous != TokenKind::Word);
            if (starts_statement && depth == 0 && i > chunk_begin_) {
                chunk_end_ = i;
                statement_count_ = statements;
                return true;
            }
            statements += starts_statement;
            previous = t.kind;
            if (t.kind == TokenKind::Open) ++depth;
            else if (t.kind == TokenKind::Close && depth > 0) --depth;
        }
        // All of toks_ from chunk_begin_ on is this statement's so far: the
        // earlier statements' tokens go before more are lexed.
        if (chunk_begin_ > 0) {
            toks_.erase(toks_.begin(), toks_.begin() + static_cast<ptrdiff_t>(chunk_begin_));
            i -= chunk_begin_;
            chunk_begin_ = 0;
        }
        if (!lexer_->next_lines(toks_)) break;
    }
    chunk_end_ = toks_.size();
    statement_count_ = statements;
    return chunk_end_ > chunk_begin_;
}

const Statement* StatementReader::next() {
    for (;;) {
        statements_.clear();
        if (!read_tokens()) return nullptr;
        pos_ = chunk_begin_;
        statements_.reserve(statement_count_);
        // One statement at most (read_tokens stops before a second), with
        // stray braces before or after it.
        bool found = false;
        while (pos_ < chunk_end_) {
            const Token& t = toks_[pos_];
            if (t.kind == TokenKind::Close) {
                ++pos_;
                doc_.errors.push_back(Diagnostic{doc_.loc(t), "unexpected '}' with no open block"});
            } else if (t.kind == TokenKind::Open) {
                doc_.errors.push_back(Diagnostic{doc_.loc(t), "'{' without a keyword before it"});
                ++pos_;
                parse_block(&t, 1);  // parsed for its errors, then unused
            } else {
                current_ = parse_statement(0);
                found = true;
            }
        }
        if (found) return &current_;
    }
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
    while (pos_ < chunk_end_) {
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
    while (pos_ < chunk_end_ && toks_[pos_].kind == TokenKind::Word && !toks_[pos_].starts_line) ++pos_;
    st.nargs = static_cast<uint32_t>(pos_ - first_arg);
    if (pos_ < chunk_end_ && toks_[pos_].kind == TokenKind::Open) {
        const Token& open = toks_[pos_];
        ++pos_;
        st.has_block = true;
        st.children = parse_block(&open, depth + 1);
    }
    return st;
}

Document parse_file(const std::string& path) {
    Document doc;
    doc.root_path_ = path;
    return doc;
}

Document parse_text(const std::string& text, const std::string& name) {
    Document doc;
    doc.storage_.push_back(text);
    doc.root_path_ = name;
    doc.root_is_text_ = true;
    return doc;
}

}  // namespace vigil::config::syntax
