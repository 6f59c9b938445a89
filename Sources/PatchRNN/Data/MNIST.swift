import Foundation

/// The four files of MNIST, or of any data set in its format (28x28 images in IDX files under
/// the standard names, labels 0-9: Fashion-MNIST, Kuzushiji-MNIST, ...), located and validated.
public struct MNIST: Sendable {
    public let train: PatchSet
    public let test: PatchSet
    /// The data set's own names of its 10 classes (`classes.txt` in its folder), if it has them.
    public var classNames: [String]? = nil

    /// Beside the IDX files: one class name per line, for label 0 to 9 (e.g. Fashion-MNIST's
    /// "T-shirt/top", "Trouser", ...). Without it the classes are called by their labels.
    public static let classNamesFile = "classes.txt"

    /// The class names of the data set in `directory`: nil without `classes.txt`; an error if
    /// that file does not name exactly 10 classes.
    public static func classNames(directory: String) throws -> [String]? {
        let path = directory + "/" + classNamesFile
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text = String(decoding: try readFileContents(path, limit: 65_536, what: "class-names file"), as: UTF8.self)
        let names = text.split(whereSeparator: { $0.isNewline }).map { $0.trimmingCharacters(in: CharacterSet.whitespaces) }.filter {
            !$0.isEmpty
        }
        guard names.count == 10 else {
            throw PatchRNNError.file(path, "names \(names.count) classes; it must name 10, one per line, for labels 0 to 9")
        }
        return names
    }

    public static let files = (
        trainImages: "train-images-idx3-ubyte", trainLabels: "train-labels-idx1-ubyte",
        testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte"
    )

    /// Environment variable naming the data folder when --data is not given.
    public static let environmentVariable = "PATCHRNN_DATA"

    /// The data folder to use: `explicit`, else $PATCHRNN_DATA, else ./data/mnist (filled by
    /// scripts/fetch-mnist.sh), else ../shared/data/mnist (the read-only copy on the project's
    /// machines).
    /// - Parameter explicit: A folder the user named (`--data`), if any.
    /// - Returns: The folder's path (not checked: `check(directory:withTest:)` does that).
    public static func resolveDirectory(_ explicit: String?) -> String {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty { return env }
        for candidate in ["data/mnist", "../shared/data/mnist"] where hasFiles(candidate) { return candidate }
        return "data/mnist"
    }

    static func hasFiles(_ dir: String) -> Bool {
        locate(dir, files.trainImages) != nil
    }

    /// `name.gz` or `name` inside `dir`.
    /// (An entry that exists counts, even a link that leads nowhere: opening it then says why.)
    static func locate(_ dir: String, _ name: String) -> String? {
        for candidate in ["\(dir)/\(name).gz", "\(dir)/\(name)"] {
            var st = stat()
            if lstat(candidate, &st) == 0 { return candidate }
        }
        return nil
    }

    /// Loads the training and test pairs (gzip'd or raw IDX files) and the class names.
    /// - Parameters:
    ///   - directory: The folder with the four MNIST files.
    ///   - withTest: Also load the test pair (false: ranks other than 0, which never generate).
    ///   - keepTrain: Given the number of training images, the ones to keep (ascending; an MPI
    ///     rank keeps only its part); nil: all.
    /// - Returns: The training images, the test images and the class names (`classes.txt`).
    /// - Throws: `PatchRNNError` naming the file that is missing, truncated or not MNIST.
    public static func load(directory: String, withTest: Bool = true, keepTrain: ((Int) throws -> [Int])? = nil) throws -> MNIST {
        // Every file needed is found before the long work of decoding any of them.
        let trainImages = try path(directory, files.trainImages), trainLabels = try path(directory, files.trainLabels)
        if withTest { _ = try (path(directory, files.testImages), path(directory, files.testLabels)) }
        let train = try loadPair(images: trainImages, labels: trainLabels, keep: keepTrain)
        let test = withTest ? try loadTest(directory: directory) : PatchSet(images: [], labels: [])
        return MNIST(train: train, test: test, classNames: try classNames(directory: directory))
    }

    /// Checks the data folder without decoding it (the headers only, quick): every file
    /// needed is there, is a regular file whose header fits its size, and each images file
    /// pairs with its labels file. Commands call it before they create their output folder.
    /// - Parameters:
    ///   - directory: The folder with the MNIST files.
    ///   - withTest: Also check the test pair.
    /// - Returns: The number of training-file images.
    /// - Throws: `PatchRNNError` naming the file that is missing or wrong.
    @discardableResult
    public static func check(directory: String, withTest: Bool = true) throws -> Int {
        var pairs = [(files.trainImages, files.trainLabels)]
        if withTest { pairs.append((files.testImages, files.testLabels)) }
        let paths = try pairs.map { (try path(directory, $0.0), try path(directory, $0.1)) }
        var counts: [Int] = []
        for (images, labels) in paths {
            let dimensions = try IDXFile.dimensions(path: images)
            try checkPair(
                images: images, imageDimensions: dimensions, labels: labels, labelDimensions: try IDXFile.dimensions(path: labels))
            counts.append(dimensions[0])
        }
        _ = try classNames(directory: directory)
        return counts[0]
    }

    /// Only the test pair (`generate`, `evaluate`).
    /// - Parameter directory: The folder with the MNIST files.
    /// - Returns: The 10,000 test images.
    /// - Throws: `PatchRNNError` naming the file that is missing or wrong.
    public static func loadTest(directory: String) throws -> PatchSet {
        try loadPair(images: path(directory, files.testImages), labels: path(directory, files.testLabels))
    }

    /// The path of `name` (.gz or raw) in the data folder, or an error saying what is missing.
    static func path(_ directory: String, _ name: String) throws -> String {
        var isDir = false
        guard fileExists(directory, isDirectory: &isDir), isDir else {
            throw PatchRNNError(
                "MNIST folder \(directory) not found: pass --data DIR, set \(environmentVariable), or run scripts/fetch-mnist.sh")
        }
        guard let p = locate(directory, name) else {
            throw PatchRNNError.file("\(directory)/\(name).gz", "no such file (nor \(name) uncompressed); run scripts/fetch-mnist.sh")
        }
        return p
    }

    /// Reads one images file and its labels file and checks that they belong together.
    /// `keep` (given the image count) names the images to convert, ascending; nil: all. (A gzip
    /// stream cannot be read in the middle, so the file is decompressed whole either way; only
    /// the kept images become floats, which is what costs memory.)
    public static func loadPair(images: String, labels: String, keep: ((Int) throws -> [Int])? = nil) throws -> PatchSet {
        // The headers first: a wrong pair is refused before the images are decompressed.
        try checkPair(
            images: images, imageDimensions: try IDXFile.dimensions(path: images),
            labels: labels, labelDimensions: try IDXFile.dimensions(path: labels))
        let img = try IDXFile.read(path: images)
        let lab = try IDXFile.read(path: labels)
        try checkPair(images: images, imageDimensions: img.dimensions, labels: labels, labelDimensions: lab.dimensions)
        if let bad = lab.bytes.first(where: { $0 > 9 }) {
            throw PatchRNNError.file(labels, "label \(bad) is not a class 0-9 (the model's report has 10 classes)")
        }
        guard let keep else { return PatchSet(images: img.bytes, labels: lab.bytes) }
        let records = try keep(lab.bytes.count)
        precondition(records.allSatisfy { $0 >= 0 && $0 < lab.bytes.count })
        return PatchSet(images: img.bytes, labels: lab.bytes, records: records)
    }
}

extension MNIST {
    /// An images file of 28x28 images and a labels file with one label per image.
    static func checkPair(images: String, imageDimensions img: [Int], labels: String, labelDimensions lab: [Int]) throws {
        guard img.count == 3 else {
            throw PatchRNNError.file(
                images, "expected an images file (3 dimensions), found \(img.count) dimension(s) \(img) — a labels file?")
        }
        guard img[1] == 28, img[2] == 28 else {
            throw PatchRNNError.file(images, "images are \(img[1])x\(img[2]), expected 28x28")
        }
        guard lab.count == 1 else {
            throw PatchRNNError.file(labels, "expected a labels file (1 dimension), found \(lab.count) dimensions \(lab)")
        }
        guard img[0] == lab[0] else {
            throw PatchRNNError.file(labels, "has \(lab[0]) labels but \(images) has \(img[0]) images")
        }
        guard img[0] > 0 else { throw PatchRNNError.file(images, "holds no images") }
    }
}

/// Training / validation split of the training set: a seeded random permutation (not
/// stratified; with 6,000 validation images each class gets 9-11% of its images).
public struct Split: Sendable {
    public let train: [Int]
    public let validation: [Int]

    public init(count: Int, validationFraction: Double, seed: UInt64) {
        var order = Array(0..<count)
        var rng = SeededRandom(seed: seed, stream: "split")
        rng.shuffle(&order)
        let nVal = Int((Double(count) * validationFraction).rounded())
        validation = Array(order[0..<nVal]).sorted()
        train = Array(order[nVal...]).sorted()
    }
}
