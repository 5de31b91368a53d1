"""Gene knowledge: gene table and symbol mapping, vocabulary, GO graph, Gene2vec vectors."""
