import Foundation

extension SafeTensors {
    /// Loads a safetensors file keeping only its float tensors (F32, F16, BF16) and returns the names of the others
    /// (e.g. the I64 `embeddings.position_ids` buffer that PyTorch exports of BERT carry), which `load` refuses.
    public static func loadFloatTensors(_ path: String) throws -> (file: SafeTensorsFile, skipped: [String]) {
        let bytes = try FileIO.read(path)
        guard bytes.count >= 8 else {
            throw FlowError(
                "\(path): truncated safetensors file (\(bytes.count) bytes, "
                    + "need at least 8 for the header length)")
        }
        var n: UInt64 = 0
        for i in 0..<8 { n |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard n <= UInt64(maxHeaderBytes), 8 + Int(n) <= bytes.count else {
            throw FlowError(
                "\(path): safetensors header length \(n) does not fit the file; "
                    + "the file is corrupt or truncated")
        }
        let headerEnd = 8 + Int(n)
        guard var dict = (try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))) as? [String: Any] else {
            throw FlowError("\(path): corrupt safetensors header (not a JSON object)")
        }
        var skipped: [String] = []
        for (name, value) in dict where name != "__metadata__" {
            if let dtype = (value as? [String: Any])?["dtype"] as? String,
                SafeTensorsFile.DType(rawValue: dtype) == nil
            {
                skipped.append(name)
            }
        }
        if skipped.isEmpty { return (try parse(bytes, path: path), []) }
        for name in skipped { dict[name] = nil }
        let header = [UInt8](try JSONSerialization.data(withJSONObject: dict))
        var rebuilt = [UInt8]()
        rebuilt.reserveCapacity(8 + header.count + bytes.count - headerEnd)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { rebuilt += $0 }
        rebuilt += header
        rebuilt += bytes[headerEnd...]
        return (try parse(rebuilt, path: path), skipped.sorted())
    }
}
