package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"github.com/nextvisit/scribe/sync/sandbox/internal/sqlitedb"
)

type userBody struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	TeamID    int64  `json:"team_id"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

var errNotFound = errors.New("not found")

func loadUser(ctx context.Context, q querier, id int64) (userBody, error) {
	var u userBody
	err := q.QueryRowContext(ctx, `SELECT id, name, email, team_id, created_at, updated_at FROM users WHERE id = ?`, id).
		Scan(&u.ID, &u.Name, &u.Email, &u.TeamID, &u.CreatedAt, &u.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return u, errNotFound
	}
	if err != nil {
		return u, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := loadUser(r.Context(), s.db, p.userID)
	if err != nil {
		s.internal(w, "load user", err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// listTeamUsers answers the signed-in user's team: GET /v1/team/users → {data: [user…]}, in id order.
// The app maps these clinicians to EHR providers.
func (s *Server) listTeamUsers(w http.ResponseWriter, r *http.Request, p principal) {
	rows, err := s.db.QueryContext(r.Context(), `
		SELECT id, name, email, team_id, created_at, updated_at FROM users WHERE team_id = ? ORDER BY id`, p.teamID)
	if err != nil {
		s.internal(w, "list team users", err)
		return
	}
	defer rows.Close()
	list := []userBody{}
	for rows.Next() {
		var u userBody
		if err := rows.Scan(&u.ID, &u.Name, &u.Email, &u.TeamID, &u.CreatedAt, &u.UpdatedAt); err != nil {
			s.internal(w, "list team users", err)
			return
		}
		list = append(list, u)
	}
	if err := rows.Err(); err != nil {
		s.internal(w, "list team users", err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Data []userBody `json:"data"`
	}{list})
}

// updateUser changes the signed-in user's name and email: PUT /v1/user {name?, email?}.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, p principal) {
	in, ok := readJSON(w, r)
	if !ok {
		return
	}
	var errs fieldErrors
	name, hasName, nameNull := in.str("name", &errs)
	email, hasEmail, emailNull := in.str("email", &errs)
	name, email = strings.TrimSpace(name), strings.TrimSpace(email)
	if hasName && (nameNull || name == "") {
		errs.add("name", required("name"))
	}
	checkLen(&errs, "name", name, maxNameLen)
	if hasEmail {
		if emailNull || email == "" {
			errs.add("email", required("email"))
		} else if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
			errs.add("email", "The email field must be a valid email address.")
		}
	}
	checkLen(&errs, "email", email, maxNameLen)
	if !errs.empty() {
		errs.write(w)
		return
	}
	ctx := r.Context()
	var taken bool
	err := sqlitedb.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if hasEmail {
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email = ? AND id <> ?)`, email, p.userID).Scan(&taken); err != nil {
				return err
			}
			if taken {
				return nil
			}
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE users SET name = CASE WHEN ?1 THEN ?2 ELSE name END,
				email = CASE WHEN ?3 THEN ?4 ELSE email END, updated_at = ?5
			WHERE id = ?6`, hasName, name, hasEmail, email, sqlitedb.FormatTime(s.now()), p.userID)
		return err
	})
	if err != nil {
		s.internal(w, "update user", err)
		return
	}
	if taken {
		invalid(w, "email", "The email has already been taken.")
		return
	}
	s.getUser(w, r, p)
}
