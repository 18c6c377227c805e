import FlowTensor

extension PixArtConfig {
    /// Derives the config from an official PixArt-α state dict's tensor shapes (a converted PyTorch checkpoint).
    ///
    /// Shapes give hidden size, patch, channels, depth, MLP width, caption channels, L_max (`y_embedding` rows),
    /// pred_sigma and the grid (`pos_embed`). `heads` comes from the caller (or the published sizes);
    /// `refiner` resolves the one ambiguous case (embed channels == output channels); `inputSize` is needed only
    /// when the file has no `pos_embed` (the buffer is then computed with PixArt's defaults).
    public static func derive(
        from f: SafeTensorsFile, heads: Int?, refiner: Bool?,
        inputSize: Int? = nil
    ) throws -> PixArtConfig {
        let src = f.path
        func shape(_ n: String, rank: Int) throws -> [Int] {
            guard let s = f.shape(n) else {
                throw FlowError(
                    "\(src): missing tensor '\(n)'; not a PixArt-α checkpoint "
                        + "(official tensor names expected)")
            }
            guard s.count == rank else {
                throw FlowError("\(src): tensor '\(n)' has rank \(s.count), expected \(rank)")
            }
            return s
        }
        let xw = try shape("x_embedder.proj.weight", rank: 4)
        let d = xw[0]
        let cx = xw[1]
        let p = xw[2]
        guard xw[3] == p else {
            throw FlowError("\(src): tensor 'x_embedder.proj.weight' has non-square patch \(xw[2])×\(xw[3])")
        }
        let size: Int
        if f.shape("pos_embed") != nil {
            let pos = try shape("pos_embed", rank: 3)
            let g = Int(Double(pos[1]).squareRoot().rounded())
            guard pos[0] == 1, g * g == pos[1], pos[2] == d else {
                throw FlowError("\(src): tensor 'pos_embed' shape \(pos) is not [1, grid², \(d)]")
            }
            size = g * p
        } else if let inputSize {
            size = inputSize
        } else {
            throw FlowError("\(src): no 'pos_embed' tensor, so the input size is unknown; store pos_embed in the file")
        }
        let fc1 = try shape("y_embedder.y_proj.fc1.weight", rank: 2)
        let nullCaption = try shape("y_embedder.y_embedding", rank: 2)
        guard nullCaption[1] == fc1[1] else {
            throw FlowError(
                "\(src): 'y_embedder.y_embedding' has \(nullCaption[1]) channels "
                    + "but y_proj.fc1 reads \(fc1[1])")
        }
        let fl = try shape("final_layer.linear.weight", rank: 2)
        guard fl[0] % (p * p) == 0 else {
            throw FlowError(
                "\(src): tensor 'final_layer.linear.weight' rows \(fl[0]) "
                    + "not a multiple of patch² \(p * p)")
        }
        let cout = fl[0] / (p * p)
        var depth = 0
        while f.shape("blocks.\(depth).attn.qkv.weight") != nil { depth += 1 }
        let mlp = depth > 0 ? try shape("blocks.0.mlp.fc1.weight", rank: 2)[0] : 4 * d
        let (isRef, c, sigma) = try channelRoles(embed: cx, out: cout, refiner: refiner, source: src)
        guard let h = heads ?? knownHeads[d] else {
            throw FlowError(
                "\(src): the tensors do not determine the number of attention heads for hidden size \(d); "
                    + "give the head count (\(.heads) H)")
        }
        var cfg = PixArtConfig(
            inputSize: size, patchSize: p, inChannels: c, hiddenSize: d, depth: depth, numHeads: h,
            captionChannels: fc1[1], captionTokens: nullCaption[0], learnSigma: sigma,
            isRefiner: isRef)
        cfg.mlpHidden = mlp
        try cfg.validate(source: src)
        return cfg
    }

    /// (isRefiner, C, learnSigma) from the patch-embedding input channels and the output channels.
    static func channelRoles(
        embed cx: Int, out cout: Int, refiner: Bool?, source src: String
    ) throws
        -> (Bool, Int, Bool)
    {
        if cout == 2 * cx {
            if refiner == true {
                throw FlowError(
                    "\(src): output has 2× the input channels, which is a predictor with pred_sigma, "
                        + "not a refiner; load it as a predictor")
            }
            return (false, cx, true)
        }
        if cx == 2 * cout {
            if refiner == false {
                throw FlowError("\(src): input has 2× the output channels, which is a refiner; load it as a refiner")
            }
            return (true, cout, false)
        }
        if cx == cout {
            if refiner == true {
                guard cx % 2 == 0 else {
                    throw FlowError("\(src): a refiner needs an even number of input channels, got \(cx)")
                }
                return (true, cx / 2, true)
            }
            return (false, cx, false)
        }
        throw FlowError("\(src): channels in \(cx) / out \(cout) match neither a predictor nor a refiner")
    }
}
