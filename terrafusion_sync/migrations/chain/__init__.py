"""The revision chain's own tools: fold old revisions into a proven baseline (:mod:`.squash`),
move a branch's revisions onto the other head after a merge (:mod:`.rebase`), and the
catalog snapshot both proofs compare (:mod:`.catalog`)."""
