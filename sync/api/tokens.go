package api

import (
	"context"
	"errors"
	"fmt"
	"net/mail"

	openapi_types "github.com/oapi-codegen/runtime/types"
)

// Login exchanges the clinician's email and password for a bearer token named after this device.
// A wrong password is ErrUnauthorized. The request is not retried: it carries no Idempotency-Key, and
// a second token would be a second effect.
func (c *Client) Login(ctx context.Context, email, password, deviceName string) (NewToken, error) {
	if err := checkEmail(email); err != nil {
		return NewToken{}, err
	}
	body := TokenRequest{Email: openapi_types.Email(email), Password: password, DeviceName: deviceName}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*CreateTokenResponse, error) {
		return c.raw.CreateTokenWithResponse(ctx, body, ed...)
	})
	if err != nil {
		return NewToken{}, err
	}
	tok, err := decoded(r.JSON201, r.HTTPResponse)
	if err != nil {
		return NewToken{}, err
	}
	if tok.Token == "" {
		return NewToken{}, badResponse("the sign-in answer has no token")
	}
	if !validToken(tok.Token) {
		return NewToken{}, badResponse("the sign-in answer's token contains characters a token cannot have")
	}
	return tok, nil
}

// Logout revokes the token this client uses.
func (c *Client) Logout(ctx context.Context) error {
	if c.token == "" {
		return errors.New("logout: this client has no token")
	}
	_, err := call(ctx, c, c.raw.RevokeCurrentTokenWithResponse)
	return err
}

// Tokens lists the user's tokens (one per signed-in device).
func (c *Client) Tokens(ctx context.Context) ([]TokenInfo, error) {
	r, err := call(ctx, c, c.raw.ListTokensWithResponse)
	if err != nil {
		return nil, err
	}
	list, err := decoded(r.JSON200, r.HTTPResponse)
	return list.Data, err
}

// RevokeToken revokes one of the user's tokens (signs that device out).
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	_, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*RevokeTokenResponse, error) {
		return c.raw.RevokeTokenWithResponse(ctx, id, ed...)
	})
	return err
}

// User is the signed-in user; the cheapest way to check that a token still works.
func (c *Client) User(ctx context.Context) (User, error) {
	r, err := call(ctx, c, c.raw.GetUserWithResponse)
	if err != nil {
		return User{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// UpdateUser changes the signed-in user's name or email (nil fields stay as they are).
func (c *Client) UpdateUser(ctx context.Context, u UserUpdate) (User, error) {
	if u.Email != nil {
		if err := checkEmail(string(*u.Email)); err != nil {
			return User{}, err
		}
	}
	r, err := call(ctx, c, func(ctx context.Context, ed ...RequestEditorFn) (*UpdateUserResponse, error) {
		return c.raw.UpdateUserWithResponse(ctx, u, ed...)
	})
	if err != nil {
		return User{}, err
	}
	return withID(decoded(r.JSON200, r.HTTPResponse))
}

// TeamUsers lists the users of the signed-in user's team, the signed-in user among them: the clinicians
// whose notes this practice signs, for mapping them to EHR providers. The operation is inferred
// (x-inferred): a server without it answers ErrNotFound, and the caller falls back to User.
func (c *Client) TeamUsers(ctx context.Context) ([]User, error) {
	r, err := call(ctx, c, c.raw.ListTeamUsersWithResponse)
	if err != nil {
		return nil, err
	}
	list, err := decoded(r.JSON200, r.HTTPResponse)
	if err != nil {
		return nil, err
	}
	// The signed-in user is always in their own team: an empty list is not an answer to this request
	// (a `{}`, a proxy's JSON).
	if len(list.Data) == 0 {
		return nil, badResponse("the team's user list is empty; it should hold at least the signed-in user")
	}
	for _, u := range list.Data {
		if u.Id == 0 {
			return nil, badResponse("a team user in the answer has no id")
		}
	}
	return list.Data, nil
}

// checkEmail catches what the generated Email type would refuse to marshal, with a message a person
// can act on.
func checkEmail(s string) error {
	if _, err := mail.ParseAddress(s); err != nil {
		if s == "" {
			return errors.New("the email address is empty; enter the one you sign in to Nextvisit with")
		}
		return fmt.Errorf("%q is not an email address; enter one such as clinician@example.com", s)
	}
	return nil
}
