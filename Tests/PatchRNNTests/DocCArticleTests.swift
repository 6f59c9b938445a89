import Foundation
import Testing

/// The DocC articles (Sources/PatchRNN/PatchRNN.docc) quote Swift code that the tests compile
/// and run, so that it cannot rot: a test file marks the code with `// snippet: NAME` and
/// `// end snippet` lines, and the article puts `<!-- snippet: NAME -->` on the line before
/// the fenced block that quotes it. The block must be the marked code exactly (after removing
/// the indentation common to its lines). A file that holds a snippet may not use
/// `@testable import`: the example is what a user of the library can write.
@Suite("Documentation: the DocC articles quote their compiled examples exactly")
struct DocCArticleTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let catalog = "Sources/PatchRNN/PatchRNN.docc"
    static let tests = "Tests/PatchRNNTests"

    /// The files under `folder` (relative to the root) ending in `suffix`, with their text.
    static func files(under folder: String, ending suffix: String) throws -> [(name: String, text: String)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)
            .filter { $0.hasSuffix(suffix) }.sorted()
        return try names.map { name in
            (folder + "/" + name, try String(contentsOf: root.appendingPathComponent(folder + "/" + name), encoding: .utf8))
        }
    }

    @Test("every marked code block of an article is its snippet, and every snippet is quoted")
    func articlesQuoteTheirSnippets() throws {
        let articles = try Self.files(under: Self.catalog, ending: ".md")
        #expect(articles.map(\.name).contains(Self.catalog + "/TrainingFromSwift.md"))
        // This file's own markers are the test data of the check below.
        let sources = try Self.files(under: Self.tests, ending: ".swift").filter { !$0.name.hasSuffix("/DocCArticleTests.swift") }
        let check = SnippetCheck(articles: articles, sources: sources)
        #expect(check.snippets.keys.contains("training-from-swift"), "the Training from Swift example is marked in its test")
        let problems = check.problems()
        #expect(problems.isEmpty, "\(problems.count) problem(s):\n\(problems.joined(separator: "\n"))")
    }

    /// The check itself, on an article and a source made here: a block that matches (indented
    /// differently), one with a line changed, a marker with no snippet, a snippet no article
    /// quotes, and a snippet in a file that uses `@testable import`.
    @Test("the check finds a changed line, a missing snippet, an unquoted one and a @testable file")
    func theCheckFindsMistakes() {
        let source = """
            import Testing

            // snippet: good
            import PatchRNN
            let settings = TrainingOptions()
            // end snippet

            func f() {
                // snippet: changed
                let a = 1
                print(a)
                // end snippet
            }
            // snippet: unquoted
            let b = 2
            // end snippet
            """
        let testable = """
            @testable import PatchRNN
            // snippet: testable
            let c = 3
            // end snippet
            """
        let article = """
            # An article

            <!-- snippet: good -->
            ```swift
            import PatchRNN
            let settings = TrainingOptions()
            ```

            <!-- snippet: changed -->
            ```swift
            let a = 1
            print(a + 1)
            ```

            <!-- snippet: missing -->
            ```swift
            let z = 0
            ```

            <!-- snippet: testable -->
            ```swift
            let c = 3
            ```

            ```swift
            // an unmarked block is not checked
            ```
            """
        let check = SnippetCheck(articles: [("A.md", article)], sources: [("S.swift", source), ("T.swift", testable)])
        #expect(Set(check.snippets.keys) == ["good", "changed", "unquoted", "testable"])
        let problems = check.problems()
        #expect(problems.count == 4, "\(problems)")
        #expect(
            problems.contains { $0.contains("A.md") && $0.contains("changed") && $0.contains("print(a + 1)") && $0.contains("print(a)") })
        #expect(problems.contains { $0.contains("missing") && $0.contains("no test marks") })
        #expect(problems.contains { $0.contains("unquoted") && $0.contains("no article quotes") })
        #expect(problems.contains { $0.contains("T.swift") && $0.contains("@testable") })
        #expect(!problems.contains { $0.contains("snippet good") })
    }
}

/// Snippets marked in Swift sources, the article blocks that quote them, and what differs.
struct SnippetCheck {
    struct Snippet {
        let file: String
        let code: [String]
        let testable: Bool
    }
    struct Quote {
        let file: String
        let name: String
        let line: Int
        let code: [String]
    }
    var snippets: [String: Snippet] = [:]
    var quotes: [Quote] = []
    var duplicates: [String] = []

    init(articles: [(name: String, text: String)], sources: [(name: String, text: String)]) {
        for (file, text) in sources {
            let testable = text.contains("@testable import")
            var name: String?, code: [String] = []
            for line in text.components(separatedBy: "\n") {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("// snippet: ") {
                    name = String(trimmed.dropFirst("// snippet: ".count))
                    code = []
                } else if trimmed == "// end snippet", let n = name {
                    if snippets[n] != nil { duplicates.append(n) }
                    snippets[n] = Snippet(file: file, code: Self.dedented(code), testable: testable)
                    name = nil
                } else if name != nil {
                    code.append(line)
                }
            }
        }
        for (file, text) in articles {
            let lines = text.components(separatedBy: "\n")
            var i = 0
            while i < lines.count {
                let marker = lines[i].trimmingCharacters(in: .whitespaces)
                if marker.hasPrefix("<!-- snippet: "), marker.hasSuffix(" -->"), i + 1 < lines.count, lines[i + 1].hasPrefix("```") {
                    let name = String(marker.dropFirst("<!-- snippet: ".count).dropLast(" -->".count))
                    var j = i + 2, code: [String] = []
                    while j < lines.count, !lines[j].hasPrefix("```") {
                        code.append(lines[j])
                        j += 1
                    }
                    quotes.append(Quote(file: file, name: name, line: i + 3, code: Self.dedented(code)))
                    i = j
                }
                i += 1
            }
        }
    }

    /// The lines less the indentation they all share (blank lines aside), trailing blanks removed.
    static func dedented(_ lines: [String]) -> [String] {
        let indents = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { $0.prefix { $0 == " " }.count }
        let cut = indents.min() ?? 0
        var out = lines.map { $0.trimmingCharacters(in: .whitespaces).isEmpty ? "" : String($0.dropFirst(cut)) }
        while out.last == "" { out.removeLast() }
        while out.first == "" { out.removeFirst() }
        return out
    }

    func problems() -> [String] {
        var problems = duplicates.map { "snippet \($0) is marked more than once" }
        for q in quotes {
            guard let s = snippets[q.name] else {
                problems.append("\(q.file):\(q.line): the block quotes snippet \(q.name), which no test marks (`// snippet: \(q.name)`)")
                continue
            }
            if s.testable {
                problems.append("\(s.file): holds snippet \(q.name) but uses @testable import: the example must use only the public API")
            }
            if q.code != s.code {
                let k = zip(q.code, s.code).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(q.code.count, s.code.count)
                let article = k < q.code.count ? q.code[k] : "(the block ends)"
                let test = k < s.code.count ? s.code[k] : "(the snippet ends)"
                problems.append(
                    "\(q.file):\(q.line + k): the block differs from snippet \(q.name) in \(s.file):\n  article: \(article)\n  test:    \(test)"
                )
            }
        }
        let quoted = Set(quotes.map(\.name))
        for (name, s) in snippets.sorted(by: { $0.key < $1.key }) where !quoted.contains(name) {
            problems.append("\(s.file): snippet \(name) is marked, but no article quotes it (`<!-- snippet: \(name) -->`)")
        }
        return problems
    }
}
