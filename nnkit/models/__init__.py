"""Ready-made models built from ``nnkit.nn`` layers."""
from nnkit.models.language import NeuralLanguageModel
from nnkit.models.lenet import LeNet5
from nnkit.models.char_rnn import CharRNN
from nnkit.models.seq2seq import Seq2Seq
from nnkit.models.autoencoders import Autoencoder, StackedAutoencoder
from nnkit.models.sparse_coding import ista, learn_dictionary
from nnkit.models.rbm import DBN, RBM
from nnkit.models.gan import GAN
from nnkit.models.flows import NICE, AdditiveCoupling
from nnkit.models.autoregressive import MaskedConv2d, WaveNet
from nnkit.models import ntm
from nnkit.models import neuroevolution
