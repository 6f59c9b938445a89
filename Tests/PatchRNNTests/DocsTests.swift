import Foundation
import Testing

/// README.md and the pages under docs/ quote `patchrnn` command lines and link to each other
/// and to files of the repository. A flag renamed or a page moved would leave them wrong
/// without a word, so these tests read every page the way a reader copies from it: each quoted
/// command line may use only flags that its subcommand's `--help` lists, and each relative
/// link must lead to a file (and, with a `#fragment`, to a heading of that page).
///
/// What counts as a quoted command line: inline code or a line of a fenced block (no language,
/// or sh / bash / shell / console) that starts with `patchrnn` (after `VAR=value` settings),
/// runs a binary at a path ending in `/patchrnn` (`.build/release/patchrnn`, under `mpirun`),
/// starts with `scripts/run.sh` (its arguments go to `patchrnn run`), or, in inline code,
/// starts with a subcommand followed by a flag (`bench --scaling`). Output belongs in
/// ```` ```text ```` blocks, which are not read.
@Suite("Documentation: quoted command lines and links")
struct DocsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// README.md and every markdown page under docs/, relative to the repository root.
    static func pages(under root: URL) -> [String] {
        var names = ["README.md"]
        let docs = root.appendingPathComponent("docs")
        if let walker = FileManager.default.enumerator(atPath: docs.path) {
            for case let path as String in walker where path.hasSuffix(".md") { names.append("docs/" + path) }
        }
        return names.sorted()
    }

    static func read(_ name: String, under root: URL) throws -> MarkdownPage {
        MarkdownPage(name: name, text: try String(contentsOf: root.appendingPathComponent(name), encoding: .utf8))
    }

    @Test("every relative link leads to a file, and every #fragment to a heading")
    func linksLeadSomewhere() throws {
        let names = Self.pages(under: Self.root)
        #expect(names.count >= 10, "README.md and docs/ hold the manual: \(names)")
        var problems: [String] = []
        var links = 0
        for name in names {
            let page = try Self.read(name, under: Self.root)
            links += page.links.count
            problems += page.linkProblems(root: Self.root)
        }
        #expect(links >= 30, "the pages link to each other; a scanner that finds no link checks nothing")
        #expect(problems.isEmpty, "\(problems.count) dead link(s):\n\(problems.joined(separator: "\n"))")
    }

    @Test("every quoted patchrnn command line uses only flags its subcommand's --help lists")
    func commandLinesParse() throws {
        let binary = try #require(
            CommandLineTests.binary, "patchrnn is not built: run `swift build -c release --product patchrnn` (scripts/test.sh does)")
        let help = HelpFlags(binary: binary)
        var problems: [String] = []
        var commands = 0
        for name in Self.pages(under: Self.root) {
            let page = try Self.read(name, under: Self.root)
            let quoted = page.commands(subcommands: try help.subcommands())
            commands += quoted.count
            for command in quoted { problems += try help.problems(command) }
        }
        #expect(commands >= 40, "the pages quote many command lines; a scanner that finds few checks little (found \(commands))")
        #expect(problems.isEmpty, "\(problems.count) command line(s) that patchrnn would not parse:\n\(problems.joined(separator: "\n"))")
    }

    /// The check itself: a page with a typo'd flag (inline, in scripts/run.sh's arguments, in a
    /// fenced block under mpirun), an unknown subcommand and dead links, beside correct ones.
    @Test("the check finds a typo'd flag, an unknown subcommand and dead links, and nothing else")
    func theCheckFindsMistakes() throws {
        let binary = try #require(CommandLineTests.binary, "patchrnn is not built")
        let dir = URL(fileURLWithPath: try temporaryDirectory())
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("docs"), withIntermediateDirectories: true)
        let page = """
            # A page
            ## How to `run` it (quickly)
            Good: [a page](docs/other.md), [a heading](#how-to-run-it-quickly), [elsewhere](docs/other.md#its-heading),
            [a picture](docs/other.md "title"), [the web](https://example.com/missing.md), `[not a link](nowhere.md)`.
            Dead: [a page](docs/missing.md), [a heading](#no-such-heading), [elsewhere](docs/other.md#nothing-here).

            Good: `patchrnn train --epochs 3 --quiet`, `patchrnn --help`, `bench --scaling [--tile both]`,
            `patchrnn evaluate --checkpoint F
            --baselines`, `scripts/run.sh --out runs/try2 --threads 1`, `PATCHRNN_TILE=simd8 patchrnn bench --seconds=2`.
            Wrong: `patchrnn train --epochz 3`, `scripts/run.sh --thread 2`, `bench --scalling`, `patchrnn frobnicate --out x`,
            `patchrnn generate --batch-size 64`.

            ```
            # a comment --not-a-flag
            .build/release/patchrnn bench --seconds 2 --json | head -3   # --not-a-flag either
            mpirun -np 2 --bind-to none .build-mpi/release/patchrnn run --mpi-exchange allreduce \\
              --out-dir runs/mpi
            ```

            ```text
            patchrnn train --output-is-not-read
            ```
            """
        try page.write(to: dir.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        try "# Other\n## Its heading\n".write(to: dir.appendingPathComponent("docs/other.md"), atomically: true, encoding: .utf8)

        let read = try Self.read("README.md", under: dir)
        let links = read.linkProblems(root: dir)
        #expect(links.count == 3, "\(links)")
        for dead in ["docs/missing.md", "#no-such-heading", "docs/other.md#nothing-here"] {
            #expect(links.filter { $0.contains("(\(dead))") }.count == 1, "\(dead) not reported once: \(links)")
        }
        #expect(links.allSatisfy { $0.hasPrefix("README.md:5: ") }, "\(links)")

        let help = HelpFlags(binary: binary)
        let commands = read.commands(subcommands: try help.subcommands())
        #expect(commands.count == 13, "\(commands.map(\.text))")
        let problems = try commands.flatMap { try help.problems($0) }
        #expect(problems.count == 6, "\(problems)")
        for wrong in ["--epochz", "--thread ", "--scalling", "'frobnicate'", "generate` has no --batch-size", "--out-dir"] {
            #expect(problems.filter { $0.contains(wrong) }.count == 1, "\(wrong) not reported once: \(problems)")
        }
        #expect(
            problems.contains { $0.hasPrefix("README.md:16: ") && $0.contains("--out-dir") },
            "a continued line is reported where it starts: \(problems)")
    }
}

/// A markdown page as the checks read it: its fenced code blocks, its inline code, its links
/// and its headings, each with the line it is on.
struct MarkdownPage {
    /// A command line quoted on the page: the arguments after `patchrnn` (for scripts/run.sh,
    /// "run" and its arguments).
    struct Command {
        let location: String
        let text: String
        let arguments: [String]
    }

    let name: String
    /// The page's lines with fenced code blocks blanked (line numbers kept).
    private(set) var prose: [String] = []
    private(set) var fencedBlocks: [(info: String, firstLine: Int, lines: [String])] = []
    /// Inline code spans of the prose, with their first line.
    private(set) var inlineCode: [(code: String, line: Int)] = []
    /// The prose without its inline code (a link inside code is not a link).
    private var proseText = ""

    init(name: String, text: String) {
        self.name = name
        var fence: (marker: String, info: String, first: Int, lines: [String])?
        for (i, line) in text.components(separatedBy: "\n").enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if var open = fence {
                if trimmed.hasPrefix(open.marker), trimmed.allSatisfy({ $0 == open.marker.first }) {
                    fencedBlocks.append((open.info, open.first, open.lines))
                    fence = nil
                } else {
                    open.lines.append(line)
                    fence = open
                }
                prose.append("")
            } else if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                let marker = String(trimmed.prefix { $0 == trimmed.first })
                let info = trimmed.dropFirst(marker.count).trimmingCharacters(in: .whitespaces).lowercased()
                fence = (marker, info, i + 2, [])
                prose.append("")
            } else {
                prose.append(line)
            }
        }
        (inlineCode, proseText) = Self.splitInlineCode(prose.joined(separator: "\n"))
    }

    /// The inline code spans of `text` (runs of n backticks closed by a run of exactly n, not
    /// across a blank line), and the text with each span blanked but its line breaks.
    static func splitInlineCode(_ text: String) -> (spans: [(code: String, line: Int)], rest: String) {
        let chars = Array(text)
        var spans: [(code: String, line: Int)] = []
        var rest = ""
        var i = 0, line = 1
        func run(at k: Int) -> Int {
            var n = 0
            while k + n < chars.count && chars[k + n] == "`" { n += 1 }
            return n
        }
        while i < chars.count {
            let c = chars[i]
            if c == "\\", i + 1 < chars.count, chars[i + 1] != "\n" {
                rest.append(c)
                rest.append(chars[i + 1])
                i += 2
                continue
            }
            guard c == "`" else {
                if c == "\n" { line += 1 }
                rest.append(c)
                i += 1
                continue
            }
            let n = run(at: i)
            var j = i + n, close: Int?
            while j < chars.count {
                if chars[j] == "`" {
                    let m = run(at: j)
                    if m == n {
                        close = j
                        break
                    }
                    j += m
                } else if chars[j] == "\n", chars[(j + 1)...].first(where: { $0 != " " }) == "\n" {
                    break  // a blank line ends the paragraph: no closing run
                } else {
                    j += 1
                }
            }
            guard let end = close else {
                rest.append(String(repeating: "`", count: n))
                i += n
                continue
            }
            let code = String(chars[(i + n)..<end])
            spans.append((code, line))
            let breaks = code.filter { $0 == "\n" }.count
            line += breaks
            rest += String(repeating: " ", count: 1) + String(repeating: "\n", count: breaks)
            i = end + n
        }
        return (spans, rest)
    }

    // MARK: Links

    /// Every link of the prose ([text](target), ![alt](target), [label]: target) with its line.
    var links: [(target: String, line: Int)] {
        var found: [(String, Int)] = []
        let inline = #/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/#
        for match in proseText.matches(of: inline) {
            found.append((String(match.output.1), lineNumber(of: match.range.lowerBound)))
        }
        let reference = #/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/#.anchorsMatchLineEndings()
        for match in proseText.matches(of: reference) {
            found.append((String(match.output.1), lineNumber(of: match.range.lowerBound)))
        }
        return found.sorted { $0.1 < $1.1 }
    }

    private func lineNumber(of index: String.Index) -> Int {
        proseText[..<index].reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
    }

    /// The anchors GitHub makes for the page's headings (lower case, punctuation dropped but
    /// - and _, spaces as -, "-1", "-2" for repeats), and those of `<a id/name="...">`.
    var anchors: Set<String> {
        var seen: [String: Int] = [:]
        var result = Set<String>()
        for line in prose {
            guard let m = line.wholeMatch(of: #/ {0,3}#{1,6}\s+(.*?)\s*#*\s*/#) else { continue }
            var slug = ""
            for ch in m.output.1.lowercased() {
                if ch.isLetter || ch.isNumber || ch == "-" || ch == "_" { slug.append(ch) } else if ch == " " { slug.append("-") }
            }
            let n = seen[slug, default: 0]
            seen[slug] = n + 1
            result.insert(n == 0 ? slug : "\(slug)-\(n)")
        }
        for m in proseText.matches(of: #/<a\s+(?:id|name)="([^"]+)"/#) { result.insert(String(m.output.1)) }
        return result
    }

    /// One line per relative link whose file, or whose #fragment's heading, does not exist.
    func linkProblems(root: URL) -> [String] {
        let here = root.appendingPathComponent(name).deletingLastPathComponent()
        var problems: [String] = []
        for (target, line) in links {
            if target.contains(#/^[A-Za-z][A-Za-z0-9+.-]*:/#) { continue }  // https:, mailto:, ...
            let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let path = parts[0].removingPercentEncoding ?? parts[0]
            let fragment = parts.count > 1 ? parts[1] : nil
            let file = path.isEmpty ? root.appendingPathComponent(name) : here.appendingPathComponent(path)
            let say = { (why: String) in problems.append("\(self.name):\(line): (\(target)) \(why)") }
            guard FileManager.default.fileExists(atPath: file.path) else {
                say("leads to no file")
                continue
            }
            guard let fragment, !fragment.isEmpty, file.pathExtension == "md" else { continue }
            guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                say("cannot be read")
                continue
            }
            let anchors = path.isEmpty ? self.anchors : MarkdownPage(name: path, text: text).anchors
            if !anchors.contains(fragment) { say("names no heading of \(path.isEmpty ? name : path)") }
        }
        return problems
    }

    // MARK: Command lines

    /// The quoted `patchrnn` command lines of the page (see DocsTests).
    func commands(subcommands: Set<String>) -> [Command] {
        var found: [Command] = []
        for (code, line) in inlineCode {
            let text = code.replacingOccurrences(of: "\\|", with: "|")
            if let arguments = Self.arguments(of: Self.words(text), anywhere: false, subcommands: subcommands) {
                found.append(Command(location: "\(name):\(line)", text: code, arguments: arguments))
            }
        }
        for block in fencedBlocks where ["", "sh", "bash", "shell", "console"].contains(block.info) {
            var pending = "", start = 0
            for (k, raw) in block.lines.enumerated() {
                if pending.isEmpty { start = block.firstLine + k }
                var text = raw.trimmingCharacters(in: .whitespaces)
                if text.hasPrefix("$ ") { text.removeFirst(2) }
                if text.hasSuffix("\\") {
                    pending += text.dropLast() + " "
                    continue
                }
                let whole = pending + text
                pending = ""
                if let arguments = Self.arguments(of: Self.words(whole), anywhere: true, subcommands: subcommands) {
                    found.append(Command(location: "\(name):\(start)", text: whole, arguments: arguments))
                }
            }
        }
        return found
    }

    /// The arguments after `patchrnn` in a command line's words, or nil when it is not one.
    static func arguments(of words: [String], anywhere: Bool, subcommands: Set<String>) -> [String]? {
        var words = words[...]
        while let first = words.first, first.contains(#/^[A-Za-z_][A-Za-z0-9_]*=/#) { words.removeFirst() }  // VAR=value
        // The command ends at the first shell operator or redirection.
        let operators = #/^(\||\|\||&&|;|&|[0-9]*>.*|&>.*|<[^>]*)$/#
        if let end = words.firstIndex(where: { $0.wholeMatch(of: operators) != nil }) { words = words[..<end] }
        guard let first = words.first else { return nil }
        if first == "patchrnn" { return Array(words.dropFirst()) }
        if first == "scripts/run.sh" { return ["run"] + words.dropFirst() }
        if !anywhere, subcommands.contains(first), words.dropFirst().first?.hasPrefix("--") == true { return Array(words) }
        if let binary = words.firstIndex(where: { $0.hasSuffix("/patchrnn") }) { return Array(words[(binary + 1)...]) }
        return nil
    }

    /// A command line's words as a POSIX shell splits them (quotes, backslashes), without a
    /// trailing comment.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var word = "", inWord = false, quote: Character?
        var chars = line.makeIterator()
        while let c = chars.next() {
            if let q = quote {
                if c == q {
                    quote = nil
                } else if c == "\\" && q == "\"", let next = chars.next() {
                    word.append(next)
                } else {
                    word.append(c)
                }
            } else if c == "'" || c == "\"" {
                quote = c
                inWord = true
            } else if c == "\\" {
                if let next = chars.next() { word.append(next) }
                inWord = true
            } else if c == "#" && !inWord {
                break  // a comment
            } else if c.isWhitespace {
                if inWord { words.append(word) }
                word = ""
                inWord = false
            } else {
                word.append(c)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        return words
    }
}

/// What `patchrnn --help` and `patchrnn <subcommand> --help` say the tool accepts.
final class HelpFlags {
    let binary: String
    private var flagsBySubcommand: [String: Set<String>] = [:]
    private var knownSubcommands: Set<String>?

    init(binary: String) { self.binary = binary }

    private func help(_ arguments: [String]) throws -> String {
        let r = try runProcess(binary, arguments + ["--help"])
        guard r.status == 0 else {
            throw HelpError(text: "patchrnn \(arguments.joined(separator: " ")) --help ended with status \(r.status): \(r.stderr)")
        }
        return r.stdout
    }

    struct HelpError: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }

    /// The subcommands `patchrnn --help` lists.
    func subcommands() throws -> Set<String> {
        if let knownSubcommands { return knownSubcommands }
        let text = try help([])
        guard let section = text.range(of: "SUBCOMMANDS:") else { throw HelpError(text: "patchrnn --help lists no subcommands") }
        let names = text[section.upperBound...].split(separator: "\n").compactMap { line in
            line.prefixMatch(of: #/  ([a-z][a-z0-9-]*)(?: |$)/#).map { String($0.output.1) }
        }
        knownSubcommands = Set(names)
        return Set(names)
    }

    /// The flags a subcommand's help declares (its option lines, not flags its prose mentions).
    func flags(_ subcommand: String) throws -> Set<String> {
        if let known = flagsBySubcommand[subcommand] { return known }
        var flags = Set<String>()
        for line in try help([subcommand]).split(separator: "\n") {
            guard let m = line.prefixMatch(of: #/  (?:(-[A-Za-z]), )?(--[a-z0-9][a-z0-9-]*)/#) else { continue }
            flags.insert(String(m.output.2))
            if let short = m.output.1 { flags.insert(String(short)) }
        }
        flagsBySubcommand[subcommand] = flags
        return flags
    }

    /// What `patchrnn` would refuse in a quoted command line: an unknown subcommand, or a flag
    /// the subcommand does not declare. `[--flag value]` and `--flag=value` are read as the
    /// flag; a subcommand written as a placeholder (`<command>`) takes any subcommand's flags.
    func problems(_ command: MarkdownPage.Command) throws -> [String] {
        var arguments = command.arguments[...]
        let subcommand: String?
        let all = try subcommands()
        if let first = arguments.first, !first.hasPrefix("-") {
            arguments.removeFirst()
            if first == "help" { return [] }
            if first.hasPrefix("<") || first.hasPrefix("[") {
                subcommand = nil
            } else if all.contains(first) {
                subcommand = first
            } else {
                return [
                    "\(command.location): `\(command.text)`: patchrnn has no subcommand '\(first)' (it has \(all.sorted().joined(separator: ", ")))"
                ]
            }
        } else {
            subcommand = "run"  // the default subcommand
        }
        let known = try subcommand.map { try flags($0) } ?? all.reduce(into: Set<String>()) { $0.formUnion(try flags($1)) }
        var problems: [String] = []
        for word in arguments {
            let token = word.trimmingCharacters(in: CharacterSet(charactersIn: "[](),;."))
            let flag: String
            if token.hasPrefix("--"), token.count > 2 {
                flag = String(token.prefix { $0 != "=" })
            } else if token.wholeMatch(of: #/-[A-Za-z]/#) != nil {
                flag = token
            } else {
                continue
            }
            if !known.contains(flag) {
                problems.append(
                    "\(command.location): `\(command.text)`: `patchrnn \(subcommand ?? "<any>")` has no \(flag) (see patchrnn \(subcommand ?? "") --help)"
                )
            }
        }
        return problems
    }
}
