#!/usr/bin/python3
"""The quality baseline murmur's classifier must beat: TF-IDF (word 1-2 grams) + logistic
regression (scikit-learn, Debian's python3-sklearn) trained on exactly murmur's training split
and scored on its validation split (`murmur split` writes both).

Usage: tfidf_baseline.py SPLIT_DIR     (SPLIT_DIR/train.tsv, SPLIT_DIR/validation.tsv)
Prints: tfidf_lr_accuracy=<validation accuracy>, tfidf_lr_f1_negative=<F1 of class 0>,
tfidf_lr_f1_positive=<F1 of class 1>
"""
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score


def load(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, _, text = line.rstrip("\n").partition("\t")
            labels.append(int(label))
            texts.append(text)
    return labels, texts


def main():
    split = sys.argv[1]
    train_y, train_x = load(split + "/train.tsv")
    val_y, val_x = load(split + "/validation.tsv")
    start = time.time()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(train_x)
    model = LogisticRegression(max_iter=1000, C=1.0)
    model.fit(features, train_y)
    predicted = model.predict(vectorizer.transform(val_x))
    accuracy = (predicted == val_y).mean()
    f1 = f1_score(val_y, predicted, average=None, labels=[0, 1])
    print("train_rows=%d validation_rows=%d seconds=%.1f" % (len(train_y), len(val_y), time.time() - start))
    print("tfidf_lr_accuracy=%.4f" % accuracy)
    print("tfidf_lr_f1_negative=%.3f" % f1[0])
    print("tfidf_lr_f1_positive=%.3f" % f1[1])


if __name__ == "__main__":
    main()
