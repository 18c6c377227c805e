/// "\n" or "\r\n" (one Character in Swift) ends a line; other Unicode line separators belong to the text.
func isLineBreak(_ c: Character) -> Bool { c == "\n" || c == "\r\n" }
