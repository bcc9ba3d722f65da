"""Ready-made models built from ``nnkit.nn`` layers."""
from nnkit.models.language import NeuralLanguageModel
from nnkit.models.lenet import LeNet5
from nnkit.models.char_rnn import CharRNN
from nnkit.models.seq2seq import Seq2Seq
