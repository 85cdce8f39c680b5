package api

import (
	"context"
	"fmt"
	"iter"
)

// Page is one page of a list: its items and the server's pagination links and metadata.
type Page[T any] struct {
	Items []T
	Links PaginationLinks
	Meta  PaginationMeta
}

// HasNext reports whether a page follows this one: by meta (current_page < last_page) when the server
// sent both, else by the presence of links.next.
func (p Page[T]) HasNext() bool {
	if p.Meta.CurrentPage != nil && p.Meta.LastPage != nil {
		return p.Meta.HasNext()
	}
	return p.Links.Next != nil && *p.Links.Next != ""
}

// Current is the page number (from 1; 1 when the server did not say).
func (m PaginationMeta) Current() int {
	if m.CurrentPage == nil || *m.CurrentPage < 1 {
		return 1
	}
	return *m.CurrentPage
}

// TotalItems is the number of items across all pages (0 when unknown or none).
func (m PaginationMeta) TotalItems() int {
	if m.Total == nil || *m.Total < 0 {
		return 0
	}
	return *m.Total
}

// Pages is the number of pages: last_page, else derived from total and per_page. An empty list has
// one (empty) page; a page past the end counts as the last.
func (m PaginationMeta) Pages() int {
	n := 0
	switch {
	case m.LastPage != nil:
		n = *m.LastPage
	case m.Total != nil && m.PerPage != nil && *m.PerPage > 0:
		n = (m.TotalItems() + *m.PerPage - 1) / *m.PerPage
	}
	return max(n, 1)
}

// HasNext reports whether current_page < last_page (false when either is unknown).
func (m PaginationMeta) HasNext() bool {
	return m.CurrentPage != nil && m.LastPage != nil && m.Current() < *m.LastPage
}

// HasPrev reports whether there is a page before this one.
func (m PaginationMeta) HasPrev() bool { return m.Current() > 1 }

// ItemRange is the 1-based positions of this page's items in the whole list, e.g. 16 and 30 for page
// 2 of 15 per page; 0, 0 when the page is empty or past the end or per_page is unknown.
func (m PaginationMeta) ItemRange() (first, last int) {
	if m.PerPage == nil || *m.PerPage < 1 {
		return 0, 0
	}
	per, total := *m.PerPage, m.TotalItems()
	first = (m.Current()-1)*per + 1
	if first > total {
		return 0, 0
	}
	return first, min(first+per-1, total)
}

// Summary describes the page for a status line: "Page 2 of 5 (73 notes)", "Page 1 of 1 (1 note)",
// "No notes". one and many are the item noun's singular and plural.
func (m PaginationMeta) Summary(one, many string) string {
	if m.Total != nil && m.TotalItems() == 0 {
		return "No " + many
	}
	s := fmt.Sprintf("Page %d of %d", m.Current(), m.Pages())
	if m.Total == nil {
		return s
	}
	noun := many
	if m.TotalItems() == 1 {
		noun = one
	}
	return fmt.Sprintf("%s (%d %s)", s, m.TotalItems(), noun)
}

// maxPages stops a walk that a broken server would otherwise make endless (100 per page × 100,000
// pages is far more than any team holds).
const maxPages = 100_000

// walk yields every item of a paginated list, page after page, until the last page, an empty page, an
// error, or the consumer stops. key identifies an item, to notice a server that ignores the page
// number and sends the same page again. It asks by page number rather than following links.next: a
// link could point at another host, which must never receive the bearer token.
func walk[T any](ctx context.Context, fetch func(ctx context.Context, page int) (Page[T], error), key func(T) int64) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		var prevFirst int64
		for page := 1; page <= maxPages; page++ {
			p, err := fetch(ctx, page)
			if err != nil {
				yield(zero, fmt.Errorf("page %d: %w", page, err))
				return
			}
			if p.Meta.CurrentPage != nil && *p.Meta.CurrentPage != page {
				yield(zero, badResponse("asked for page %d, the server sent page %d", page, *p.Meta.CurrentPage))
				return
			}
			if len(p.Items) == 0 {
				return
			}
			first := key(p.Items[0])
			if page > 1 && first == prevFirst {
				yield(zero, badResponse("page %d repeats page %d", page, page-1))
				return
			}
			prevFirst = first
			for _, item := range p.Items {
				if !yield(item, nil) {
					return
				}
			}
			if !p.HasNext() {
				return
			}
		}
		yield(zero, badResponse("the list did not end after %d pages", maxPages))
	}
}
