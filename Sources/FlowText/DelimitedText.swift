import FlowTensor

/// Records of CSV (RFC 4180: fields in double quotes may hold commas, line breaks and `""` for a quote) and TSV
/// (tab-separated, no quoting: a field is everything between tabs) text, with the 1-based line each record starts on.
/// Lines that are empty (or only spaces) between records are skipped. Errors are one line: `source:line: problem`.
public enum DelimitedText {
    public struct Record: Equatable, Sendable {
        public var line: Int
        public var fields: [String]
    }

    public static func tsv(_ text: String, source: String) -> [Record] {
        var out: [Record] = []
        for (i, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: isLineBreak).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw[...]
            if line.allSatisfy({ $0 == " " }) { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            out.append(Record(line: i + 1, fields: fields))
        }
        return out
    }

    public static func csv(_ text: String, source: String) throws -> [Record] {
        var out: [Record] = []
        let s = Array(text.unicodeScalars)
        var i = 0
        var line = 1
        while i < s.count {
            // Skip blank lines between records.
            var j = i
            while j < s.count && s[j] == " " { j += 1 }
            if j == s.count { break }
            if s[j] == "\n" || s[j] == "\r" {
                if s[j] == "\r" && j + 1 < s.count && s[j + 1] == "\n" { j += 1 }
                i = j + 1
                line += 1
                continue
            }
            let start = line
            var fields: [String] = []
            while true {
                var field = String.UnicodeScalarView()
                if i < s.count && s[i] == "\"" {
                    let quoteLine = line
                    i += 1
                    while true {
                        guard i < s.count else {
                            throw FlowError(
                                "\(source):\(quoteLine): unterminated quoted field; "
                                    + "close it with \" (a quote inside is written \"\")")
                        }
                        if s[i] == "\"" {
                            if i + 1 < s.count && s[i + 1] == "\"" {
                                field.append("\"")
                                i += 2
                                continue
                            }
                            i += 1
                            break
                        }
                        if s[i] == "\n" { line += 1 }
                        field.append(s[i])
                        i += 1
                    }
                    if i < s.count && s[i] != "," && s[i] != "\n" && s[i] != "\r" {
                        throw FlowError(
                            "\(source):\(line): text after a closing quote; "
                                + "quote the whole field and write a quote inside as \"\"")
                    }
                } else {
                    while i < s.count && s[i] != "," && s[i] != "\n" && s[i] != "\r" {
                        field.append(s[i])
                        i += 1
                    }
                }
                fields.append(String(field))
                if i < s.count && s[i] == "," {
                    i += 1
                    continue
                }
                // End of record: \n, \r\n or end of text.
                if i < s.count && s[i] == "\r" { i += 1 }
                if i < s.count && s[i] == "\n" { i += 1 }
                line += 1
                break
            }
            out.append(Record(line: start, fields: fields))
        }
        return out
    }
}
