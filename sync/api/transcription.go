package api

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Transcribe uploads an audio file (WAV or FLAC) and returns its text with word times. With a
// non-empty idempotencyKey the request is retried safely.
func (c *Client) Transcribe(ctx context.Context, fileName string, audio io.Reader, idempotencyKey string) (Transcription, error) {
	if audio == nil {
		return Transcription{}, errors.New("transcribe: no audio given")
	}
	f := newForm()
	f.file("file", fileNameOr(fileName, "audio.wav"), audio)
	contentType, body, err := f.body()
	if err != nil {
		return Transcription{}, fmt.Errorf("transcribe: %w", err)
	}
	params := &CreateTranscriptionParams{}
	if idempotencyKey != "" {
		params.IdempotencyKey = &idempotencyKey
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*CreateTranscriptionResponse, error) {
		return c.raw.CreateTranscriptionWithBodyWithResponse(ctx, params, contentType, body, ed...)
	})
	if err != nil {
		return Transcription{}, err
	}
	return decoded(r.JSON200, r.HTTPResponse)
}

// StreamingToken mints a single-use temporary token for one live transcription session, valid for
// expiresInSeconds (1–600; 0 means the server's default) to open it.
func (c *Client) StreamingToken(ctx context.Context, expiresInSeconds int) (StreamingToken, error) {
	var body StreamingTokenRequest
	if expiresInSeconds != 0 {
		body.ExpiresInSeconds = &expiresInSeconds
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*CreateStreamingTokenResponse, error) {
		return c.raw.CreateStreamingTokenWithResponse(ctx, body, ed...)
	})
	if err != nil {
		return StreamingToken{}, err
	}
	tok, err := decoded(r.JSON201, r.HTTPResponse)
	if err != nil {
		return StreamingToken{}, err
	}
	if tok.Token == "" || tok.Url == "" {
		return StreamingToken{}, badResponse("the streaming token answer has no token or URL")
	}
	return tok, nil
}
