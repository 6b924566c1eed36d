package sqs

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// maxBodyBytes is the SQS limit on a message body (and on a whole
// SendMessageBatch request).
const maxBodyBytes = 256 * 1024

// An SQS message body is a string of XML-safe Unicode characters, so
// binary keys and values cannot go in as they are. encodeBody frames them
// as one flag byte (bit 0: the key is non-nil, so that nil and empty keys
// survive), the key length as a uvarint, the key and the value, and
// base64-encodes the frame. Base64 costs a third more bytes: the largest
// value that fits is about 190 KiB.
func encodeBody(key, value []byte) (string, error) {
	frame := make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(value))
	var flags byte
	if key != nil {
		flags = 1
	}
	frame = append(frame, flags)
	frame = binary.AppendUvarint(frame, uint64(len(key)))
	frame = append(frame, key...)
	frame = append(frame, value...)
	body := base64.StdEncoding.EncodeToString(frame)
	if len(body) > maxBodyBytes {
		return "", fmt.Errorf("%w: %d bytes of key and value encode to %d bytes, over %d",
			ErrTooLarge, len(key)+len(value), len(body), maxBodyBytes)
	}
	return body, nil
}

var errBadBody = errors.New("message body is not a brokerbench frame")

// decodeBody is the inverse of encodeBody. The returned slices alias one
// freshly allocated buffer.
func decodeBody(body string) (key, value []byte, err error) {
	frame, err := base64.StdEncoding.DecodeString(body)
	if err != nil || len(frame) < 2 {
		return nil, nil, errBadBody
	}
	flags := frame[0]
	n, w := binary.Uvarint(frame[1:])
	if w <= 0 || flags > 1 || n > uint64(len(frame)-1-w) {
		return nil, nil, errBadBody
	}
	rest := frame[1+w:]
	if flags == 1 {
		key = rest[:n:n]
	}
	return key, rest[n:], nil
}
