"""Word-level language modeling with an LSTM: the plain training script word_lm's harness
port (word_lm/spec.py + word_lm/torch_port.py) came from, and its oracle.

Written for this repository in the style of the PyTorch examples' word_language_model
(main.py and data.py; the model is theirs, word_lm/model.py): truncated BPTT over
batchified text, gradient clipping, plain SGD by hand, the learning rate divided by 4
whenever the validation loss does not improve, the best model kept and scored on the test
set. Sizes are small, for a corpus of a few KB (word_lm/data/). Run:

    python original.py --epochs 6

tests/test_original.py checks that the port's per-epoch losses equal this script's bit
for bit.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from word_lm.model import RNNModel

DATA = Path(__file__).parent / "word_lm" / "data"


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, "train.txt"))
        self.valid = self.tokenize(os.path.join(path, "valid.txt"))
        self.test = self.tokenize(os.path.join(path, "test.txt"))

    def tokenize(self, path):
        """Tokenizes a text file."""
        with open(path, encoding="utf8") as f:
            idss = []
            for line in f:
                words = line.split() + ["<eos>"]
                ids = [self.dictionary.add_word(word) for word in words]
                idss.append(torch.tensor(ids).type(torch.int64))
            return torch.cat(idss)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="PyTorch LSTM word-level language model")
    parser.add_argument("--data", type=str, default=str(DATA), help="location of the corpus")
    parser.add_argument("--model", type=str, default="LSTM", help="type of network (LSTM, GRU)")
    parser.add_argument("--emsize", type=int, default=16, help="size of word embeddings")
    parser.add_argument("--nhid", type=int, default=16, help="hidden units per layer")
    parser.add_argument("--nlayers", type=int, default=2, help="number of layers")
    parser.add_argument("--lr", type=float, default=20, help="initial learning rate")
    parser.add_argument("--clip", type=float, default=0.25, help="gradient clipping")
    parser.add_argument("--epochs", type=int, default=16, help="upper epoch limit")
    parser.add_argument("--batch_size", type=int, default=4, help="batch size")
    parser.add_argument("--bptt", type=int, default=8, help="sequence length")
    parser.add_argument("--dropout", type=float, default=0.2, help="dropout applied to layers")
    parser.add_argument("--anneal", type=float, default=4.0,
                        help="divide the lr by this when validation loss does not improve")
    parser.add_argument("--tied", action=argparse.BooleanOptionalAction, default=True,
                        help="tie the word embedding and softmax weights")
    parser.add_argument("--seed", type=int, default=1111, help="random seed")
    parser.add_argument("--log-interval", type=int, default=10, help="report interval")
    parser.add_argument("--save", type=str, default="", help="path to save the final model")
    return parser.parse_args(argv)


def batchify(data, bsz, device):
    # Work out how cleanly we can divide the dataset into bsz parts, trim off the
    # remainder, and lay the columns out: (nbatch, bsz), each column one stretch of text.
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data.to(device)


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def main(argv=None):
    """Trains as the command line says; returns each epoch's losses and lr, and the test
    loss of the best model."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    corpus = Corpus(args.data)
    eval_batch_size = 4
    train_data = batchify(corpus.train, args.batch_size, device)
    val_data = batchify(corpus.valid, eval_batch_size, device)
    test_data = batchify(corpus.test, eval_batch_size, device)

    ntokens = len(corpus.dictionary)
    model = RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers, args.dropout,
                     args.tied).to(device)
    criterion = nn.NLLLoss()

    def evaluate(data_source):
        model.eval()  # turn off dropout
        total_loss = 0.0
        hidden = model.init_hidden(eval_batch_size)
        with torch.no_grad():
            for i in range(0, data_source.size(0) - 1, args.bptt):
                data, targets = get_batch(data_source, i, args.bptt)
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
                total_loss += len(data) * criterion(output, targets).item()
        return total_loss / (len(data_source) - 1)

    def train(epoch, lr):
        model.train()  # turn on dropout
        total_loss, epoch_loss, batches = 0.0, 0.0, 0
        hidden = model.init_hidden(args.batch_size)
        for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
            data, targets = get_batch(train_data, i, args.bptt)
            # Starting each batch, we detach the hidden state from how it was previously
            # produced; otherwise backprop would go all the way to the start of the data.
            model.zero_grad()
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
            loss = criterion(output, targets)
            loss.backward()
            # `clip_grad_norm_` helps prevent the exploding gradient problem in RNNs.
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)
            total_loss += loss.item()
            epoch_loss += loss.item()
            batches += 1
            if batch % args.log_interval == 0 and batch > 0:
                cur_loss = total_loss / args.log_interval
                print(f"| epoch {epoch:3d} | {batch:5d} batches | lr {lr:6.3f} | "
                      f"loss {cur_loss:5.2f} | ppl {math.exp(cur_loss):8.2f}")
                total_loss = 0.0
        return epoch_loss / batches

    # Loop over epochs; keep the best model, anneal the lr when validation does not improve.
    lr = args.lr
    best_val_loss = None
    history = []
    with tempfile.TemporaryDirectory() as scratch:
        best_path = os.path.join(scratch, "best.pt")
        for epoch in range(1, args.epochs + 1):
            train_loss = train(epoch, lr)
            val_loss = evaluate(val_data)
            print(f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | "
                  f"valid ppl {math.exp(val_loss):8.2f}")
            history.append({"train_loss": train_loss, "val_loss": val_loss, "lr": lr})
            # Save the model if the validation loss is the best we've seen so far.
            if not best_val_loss or val_loss < best_val_loss:
                torch.save(model.state_dict(), best_path)
                best_val_loss = val_loss
            else:
                # Anneal the learning rate if no improvement has been seen.
                lr /= args.anneal
        if args.save:
            torch.save(model.state_dict(), args.save)
        model.load_state_dict(torch.load(best_path))
    test_loss = evaluate(test_data)
    print(f"| end of training | test loss {test_loss:5.2f} | test ppl {math.exp(test_loss):8.2f}")
    return {"epochs": history, "test_loss": test_loss, "best_val_loss": best_val_loss}


if __name__ == "__main__":
    main()
