/// Character classes of BERT's normalizer and pre-tokenizer as the HuggingFace `tokenizers` library applies them.
///
/// `tokenizers` (Rust) decides "control", "whitespace", "punctuation" and "non-spacing mark" with an old Unicode
/// table (the `unicode_categories` crate), not the current one, so characters assigned since then behave
/// differently from what Swift's own Unicode properties say (e.g. U+061D ARABIC END OF TEXT MARK is not
/// punctuation there). To reproduce sentence-transformers exactly, this table was measured from the real library
/// (tokenizers 0.23.3) by normalising and pre-tokenising every code point ("a" + c + "b");
/// `Scripts/minilm_golden.py --classes` regenerates it.
///
/// Classes: `r` removed (controls Cc/Cf/Co, U+0000, U+FFFD by `clean_text`; non-spacing marks Mn by accent
/// stripping after NFD), `w` whitespace (becomes a space, splits words), `p` punctuation (a word of its own),
/// `o` everything else. Each item is `<first code point in hex><class>`; a run lasts until the next item.
enum BertCharacterClass: UInt8 {
    case other = 0
    case removed, whitespace, punctuation
}

enum BertCharacterTable {
    static let encoded = """
        0r 9w br dw er 20w 21p 30o 3ap 41o 5bp 61o 7bp 7fr a0w a1p a2o a7p a8o abp aco adr aeo b6p b8o bbp
        bco bfp c0o 300r 370o 37ep 37fo 387p 388o 483r 488o 55ap 560o 589p 58bo 591r 5bep 5bfr 5c0p 5c1r
        5c3p 5c4r 5c6p 5c7r 5c8o 5f3p 5f5o 600r 606o 609p 60bo 60cp 60eo 610r 61bp 61cr 61do 61ep 620o 64br
        660o 66ap 66eo 670r 671o 6d4p 6d5o 6d6r 6deo 6dfr 6e5o 6e7r 6e9o 6ear 6eeo 700p 70eo 70fr 710o 711r
        712o 730r 74bo 7a6r 7b1o 7ebr 7f4o 7f7p 7fao 816r 81ao 81br 824o 825r 828o 829r 82eo 830p 83fo 859r
        85co 85ep 85fo 8e3r 903o 93ar 93bo 93cr 93do 941r 949o 94dr 94eo 951r 958o 962r 964p 966o 970p 971o
        981r 982o 9bcr 9bdo 9c1r 9c5o 9cdr 9ceo 9e2r 9e4o a01r a03o a3cr a3do a41r a43o a47r a49o a4br a4eo
        a51r a52o a70r a72o a75r a76o a81r a83o abcr abdo ac1r ac6o ac7r ac9o acdr aceo ae2r ae4o af0p af1o
        b01r b02o b3cr b3do b3fr b40o b41r b45o b4dr b4eo b56r b57o b62r b64o b82r b83o bc0r bc1o bcdr bceo
        c00r c01o c3er c41o c46r c49o c4ar c4eo c55r c57o c62r c64o c81r c82o cbcr cbdo cbfr cc0o cc6r cc7o
        cccr cceo ce2r ce4o d01r d02o d41r d45o d4dr d4eo d62r d64o dcar dcbo dd2r dd5o dd6r dd7o df4p df5o
        e31r e32o e34r e3bo e47r e4fp e50o e5ap e5co eb1r eb2o eb4r ebao ebbr ebdo ec8r eceo f04p f13o f14p
        f15o f18r f1ao f35r f36o f37r f38o f39r f3ap f3eo f71r f7fo f80r f85p f86r f88o f8dr f98o f99r fbdo
        fc6r fc7o fd0p fd5o fd9p fdbo 102dr 1031o 1032r 1038o 1039r 103bo 103dr 103fo 104ap 1050o 1058r
        105ao 105er 1061o 1071r 1075o 1082r 1083o 1085r 1087o 108dr 108eo 109dr 109eo 10fbp 10fco 135dr
        1360p 1369o 1400p 1401o 166dp 166fo 1680w 1681o 169bp 169do 16ebp 16eeo 1712r 1715o 1732r 1735p
        1737o 1752r 1754o 1772r 1774o 17b4r 17b6o 17b7r 17beo 17c6r 17c7o 17c9r 17d4p 17d7o 17d8p 17dbo
        17ddr 17deo 1800p 180br 180fo 18a9r 18aao 1920r 1923o 1927r 1929o 1932r 1933o 1939r 193co 1944p
        1946o 1a17r 1a19o 1a1br 1a1co 1a1ep 1a20o 1a56r 1a57o 1a58r 1a5fo 1a60r 1a61o 1a62r 1a63o 1a65r
        1a6do 1a73r 1a7do 1a7fr 1a80o 1aa0p 1aa7o 1aa8p 1aaeo 1ab0r 1abeo 1b00r 1b04o 1b34r 1b35o 1b36r
        1b3bo 1b3cr 1b3do 1b42r 1b43o 1b5ap 1b61o 1b6br 1b74o 1b80r 1b82o 1ba2r 1ba6o 1ba8r 1baao 1babr
        1baeo 1be6r 1be7o 1be8r 1beao 1bedr 1beeo 1befr 1bf2o 1bfcp 1c00o 1c2cr 1c34o 1c36r 1c38o 1c3bp
        1c40o 1c7ep 1c80o 1cc0p 1cc8o 1cd0r 1cd3p 1cd4r 1ce1o 1ce2r 1ce9o 1cedr 1ceeo 1cf4r 1cf5o 1cf8r
        1cfao 1dc0r 1df6o 1dfcr 1e00o 1fefp 1ff0o 2000w 200br 2010p 2028w 202ar 202fw 2030p 2044o 2045p
        2052o 2053p 205fw 2060r 2065o 2066r 2070o 207dp 207fo 208dp 208fo 20d0r 20ddo 20e1r 20e2o 20e5r
        20f1o 2260p 2261o 226ep 2270o 2308p 230co 2329p 232bo 2768p 2776o 27c5p 27c7o 27e6p 27f0o 2983p
        2999o 29d8p 29dco 29fcp 29feo 2cefr 2cf2o 2cf9p 2cfdo 2cfep 2d00o 2d70p 2d71o 2d7fr 2d80o 2de0r
        2e00p 2e2fo 2e30p 2e43o 3000w 3001p 3004o 3008p 3012o 3014p 3020o 302ar 302eo 3030p 3031o 303dp
        303eo 3099r 309bo 30a0p 30a1o 30fbp 30fco a4fep a500o a60dp a610o a66fr a670o a673p a674r a67ep
        a67fo a69er a6a0o a6f0r a6f2p a6f8o a802r a803o a806r a807o a80br a80co a825r a827o a874p a878o
        a8c4r a8c5o a8cep a8d0o a8e0r a8f2o a8f8p a8fbo a8fcp a8fdo a926r a92ep a930o a947r a952o a95fp
        a960o a980r a983o a9b3r a9b4o a9b6r a9bao a9bcr a9bdo a9c1p a9ceo a9dep a9e0o a9e5r a9e6o aa29r
        aa2fo aa31r aa33o aa35r aa37o aa43r aa44o aa4cr aa4do aa5cp aa60o aa7cr aa7do aab0r aab1o aab2r
        aab5o aab7r aab9o aaber aac0o aac1r aac2o aadep aae0o aaecr aaeeo aaf0p aaf2o aaf6r aaf7o abe5r
        abe6o abe8r abe9o abebp abeco abedr abeeo e000r f900o fb1er fb1fo fd3ep fd40o fe00r fe10p fe1ao
        fe20r fe30p fe53o fe54p fe62o fe63p fe64o fe68p fe69o fe6ap fe6co feffr ff00o ff01p ff04o ff05p
        ff0bo ff0cp ff10o ff1ap ff1co ff1fp ff21o ff3bp ff3eo ff3fp ff40o ff5bp ff5co ff5dp ff5eo ff5fp
        ff66o fff9r fffco fffdr fffeo 10100p 10103o 101fdr 101feo 102e0r 102e1o 10376r 1037bo 1039fp 103a0o
        103d0p 103d1o 1056fp 10570o 10857p 10858o 1091fp 10920o 1093fp 10940o 10a01r 10a04o 10a05r 10a07o
        10a0cr 10a10o 10a38r 10a3bo 10a3fr 10a40o 10a50p 10a59o 10a7fp 10a80o 10ae5r 10ae7o 10af0p 10af7o
        10b39p 10b40o 10b99p 10b9do 11001r 11002o 11038r 11047p 1104eo 1107fr 11082o 110b3r 110b7o 110b9r
        110bbp 110bdr 110bep 110c2o 11100r 11103o 11127r 1112co 1112dr 11135o 11140p 11144o 11173r 11174p
        11176o 11180r 11182o 111b6r 111bfo 111c5p 111car 111cdp 111ceo 111dbp 111dco 111ddp 111e0o 1122fr
        11232o 11234r 11235o 11236r 11238p 1123eo 112a9p 112aao 112dfr 112e0o 112e3r 112ebo 11300r 11302o
        1133cr 1133do 11340r 11341o 11366r 1136do 11370r 11375o 114b3r 114b9o 114bar 114bbo 114bfr 114c1o
        114c2r 114c4o 114c6p 114c7o 115b2r 115b6o 115bcr 115beo 115bfr 115c1p 115d8o 115dcr 115deo 11633r
        1163bo 1163dr 1163eo 1163fr 11641p 11644o 116abr 116aco 116adr 116aeo 116b0r 116b6o 116b7r 116b8o
        1171dr 11720o 11722r 11726o 11727r 1172co 1173cp 1173fo 12470p 12475o 16a6ep 16a70o 16af0r 16af5p
        16af6o 16b30r 16b37p 16b3co 16b44p 16b45o 16f8fr 16f93o 1bc9dr 1bc9fp 1bca0r 1bca4o 1d167r 1d16ao
        1d173r 1d183o 1d185r 1d18co 1d1aar 1d1aeo 1d242r 1d245o 1da00r 1da37o 1da3br 1da6do 1da75r 1da76o
        1da84r 1da85o 1da87p 1da8co 1da9br 1daa0o 1daa1r 1dab0o 1e8d0r 1e8d7o e0001r e0002o e0020r e0080o
        e0100r e01f0o f0000r ffffeo 100000r 10fffeo
        """

    /// Run starts (ascending) and their classes, decoded once.
    static let runs: (starts: [UInt32], classes: [BertCharacterClass]) = {
        var starts: [UInt32] = []
        var classes: [BertCharacterClass] = []
        for item in encoded.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let cls: BertCharacterClass
            switch item.last {
            case "r": cls = .removed
            case "w": cls = .whitespace
            case "p": cls = .punctuation
            default: cls = .other
            }
            starts.append(UInt32(item.dropLast(), radix: 16)!)
            classes.append(cls)
        }
        return (starts, classes)
    }()

    /// The class of one code point (binary search over the runs).
    static func classify(_ s: Unicode.Scalar) -> BertCharacterClass {
        let v = s.value
        let starts = runs.starts
        var lo = 0
        var hi = starts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if starts[mid] <= v { lo = mid } else { hi = mid - 1 }
        }
        return runs.classes[lo]
    }

    /// BERT's "Chinese character" blocks (CJK Unified Ideographs and extensions, compatibility ideographs):
    /// each gets spaces around it so it becomes a word of its own. Extension E starts at U+2B920 here, not U+2B820:
    /// that is the range the `tokenizers` library checks (measured), so U+2B820–U+2B91F stay inside words.
    static func isChinese(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
            0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
