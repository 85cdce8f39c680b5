package api

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"path/filepath"
	"strconv"
	"strings"
)

// form builds a multipart/form-data body in memory, so that a retried request can send it again
// (http.NewRequest sets GetBody for a *bytes.Reader).
type form struct {
	buf bytes.Buffer
	w   *multipart.Writer
	err error
}

func newForm() *form {
	f := &form{}
	f.w = multipart.NewWriter(&f.buf)
	return f
}

func (f *form) field(name, value string) {
	if f.err == nil {
		f.err = f.w.WriteField(name, value)
	}
}

func (f *form) intField(name string, v int64) { f.field(name, strconv.FormatInt(v, 10)) }

// file adds a file part with a content type taken from the file name's extension.
func (f *form) file(name, fileName string, r io.Reader) {
	if f.err != nil {
		return
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteEscaper.Replace(name), quoteEscaper.Replace(fileName)))
	h.Set("Content-Type", audioType(fileName))
	part, err := f.w.CreatePart(h)
	if err != nil {
		f.err = err
		return
	}
	if _, err := io.Copy(part, r); err != nil {
		f.err = fmt.Errorf("read audio: %w", err)
	}
}

// quoteEscaper escapes a quoted Content-Disposition parameter as mime/multipart does, and drops line
// breaks, which would end the header.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "", "\n", "")

// body finishes the form: its content type (with the boundary) and a replayable reader.
func (f *form) body() (contentType string, body *bytes.Reader, err error) {
	if f.err != nil {
		return "", nil, f.err
	}
	if err := f.w.Close(); err != nil {
		return "", nil, err
	}
	return f.w.FormDataContentType(), bytes.NewReader(f.buf.Bytes()), nil
}

func audioType(fileName string) string {
	switch strings.ToLower(filepath.Ext(fileName)) {
	case ".wav":
		return "audio/wav"
	case ".flac":
		return "audio/flac"
	case ".mp3":
		return "audio/mpeg"
	case ".m4a", ".mp4":
		return "audio/mp4"
	case ".ogg", ".opus":
		return "audio/ogg"
	case ".webm":
		return "audio/webm"
	}
	return "application/octet-stream"
}
